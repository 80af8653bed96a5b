"""Informer against a scripted list/watch API on a fake clock (looptime).

`ScriptedApi` is an apiserver's state (objects at a version, served two to a page) plus one
script per watch request (events, silences, errors, a normal end). The handler records
what the informer delivered; the API records when it was asked what, in loop seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from rollout_operator.api import IDLE, ApiError
from rollout_operator.informer import Informer, Resource, Timing

pytestmark = [pytest.mark.asyncio, pytest.mark.looptime(idle_timeout=1)]

NS = "team"
PATH = "/api/v1/namespaces/team/configmaps"

Step = tuple[Any, ...]


def obj(name: str, version: int | str) -> dict[str, Any]:
    return {"metadata": {"namespace": NS, "name": name, "resourceVersion": str(version)}}


def event(kind: str, name: str, version: int) -> Step:
    return ("event", {"type": kind, "object": obj(name, version)})


def bookmark(version: int) -> Step:
    return (
        "event",
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(version)}}},
    )


def sleep(seconds: float) -> Step:
    return ("sleep", seconds)


def fail(error: ApiError) -> Step:
    return ("raise", error)


def call(action: Callable[[], None]) -> Step:
    return ("call", action)


END: Step = ("end",)


class ScriptedApi:
    """The two Api methods an Informer uses, served from state and scripts."""

    def __init__(self, names: list[str], version: int = 10) -> None:
        self.objects = {name: obj(name, version) for name in names}
        self.version = version
        self.scripts: list[list[Step]] = []
        #: Held closed to stop a list after its first page.
        self.page_gate: asyncio.Event | None = None
        self.lists: list[float] = []
        self.watches: list[tuple[float, str]] = []
        self.metadata_only: list[bool] = []
        #: Set whenever the API is asked something or the handler told something.
        self.changed = asyncio.Event()

    def delete(self, name: str, version: int) -> None:
        """Change the state with no watch event (as during a gap)."""
        del self.objects[name]
        self.version = version

    def create(self, name: str, version: int) -> None:
        self.objects[name] = obj(name, version)
        self.version = version

    async def pages(self, path: str, *, metadata_only: bool = False) -> AsyncIterator[dict]:
        assert path == PATH
        self.lists.append(asyncio.get_running_loop().time())
        self.changed.set()
        self.metadata_only.append(metadata_only)
        items = [self.objects[name] for name in sorted(self.objects)]
        version = str(self.version)
        chunks = [items[i : i + 2] for i in range(0, len(items), 2)] or [[]]
        for number, chunk in enumerate(chunks):
            if number and self.page_gate is not None:
                await self.page_gate.wait()
            last = number == len(chunks) - 1
            meta = {"resourceVersion": version, "continue": "" if last else f"page{number + 1}"}
            yield {"metadata": meta, "items": chunk}

    async def watch(
        self, path: str, *, resource_version: str, metadata_only: bool = False
    ) -> AsyncIterator[dict]:
        assert path == PATH
        await asyncio.sleep(0)  # a request always yields to the loop
        self.watches.append((asyncio.get_running_loop().time(), resource_version))
        self.changed.set()
        self.metadata_only.append(metadata_only)
        script = self.scripts.pop(0) if self.scripts else []
        for step in script:
            match step:
                case ("event", data):
                    yield data
                case ("sleep", seconds):
                    await asyncio.sleep(seconds)
                case ("raise", error):
                    raise error
                case ("call", action):
                    action()
                case ("end",):
                    return
        await asyncio.Event().wait()  # an open, quiet watch

    def watch_versions(self) -> list[str]:
        return [version for _, version in self.watches]


class Recorder:
    """A Handler that keeps what it was told."""

    def __init__(self, changed: asyncio.Event) -> None:
        self.changed = changed
        self.events: list[tuple[str, str]] = []
        self.listed: list[tuple[set[tuple[str, str]], str]] = []

    def on_object(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        assert kind == "ConfigMap"
        self.events.append((event_type, obj["metadata"]["name"]))
        self.changed.set()

    def on_listed(
        self, kind: str, namespace: str | None, present: set[tuple[str, str]], version: str
    ) -> None:
        assert (kind, namespace) == ("ConfigMap", NS)
        self.listed.append(({name for _, name in present}, version))
        self.changed.set()


class Running:
    """An informer task with its API, handler and restart reasons."""

    def __init__(self, api: ScriptedApi, timing: Timing | None = None) -> None:
        self.api = api
        self.handler = Recorder(api.changed)
        self.restarts: list[str] = []
        self.recovered: list[float] = []
        self.informer = Informer(
            api,  # type: ignore[arg-type]
            Resource("ConfigMap", PATH, NS, metadata_only=True),
            self.handler,
            timing=timing or Timing(resync=600, backoff_initial=0.5, backoff_max=30),
            on_restart=lambda kind, reason: self.restarts.append(reason),
            on_recovered=lambda: self.recovered.append(asyncio.get_running_loop().time()),
        )
        self.task = asyncio.create_task(self.informer.run())

    async def until(self, condition: Callable[[], bool], within: float = 600) -> None:
        """Wait (in loop time) until `condition` holds; re-checked after every change."""
        async with asyncio.timeout(within):
            while not condition():
                self.api.changed.clear()
                await self.api.changed.wait()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_lists_then_watches_from_the_lists_version():
    api = ScriptedApi(["a", "b", "c"])
    api.scripts = [[event("MODIFIED", "b", 11)]]
    run = Running(api)
    await run.until(lambda: ("MODIFIED", "b") in run.handler.events)
    assert run.handler.events == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c"), ("MODIFIED", "b")]
    assert run.handler.listed == [({"a", "b", "c"}, "10")]  # both pages, one complete set
    assert api.watch_versions() == ["10"]
    assert api.metadata_only == [True, True]
    assert run.informer.version == "11"
    await run.stop()


async def test_synced_is_set_only_after_the_first_complete_list():
    api = ScriptedApi(["a", "b", "c"])
    api.page_gate = asyncio.Event()
    run = Running(api)
    await run.until(lambda: len(run.handler.events) == 2)  # the first page is in
    await asyncio.sleep(5)
    assert not run.informer.synced.is_set()
    assert run.handler.listed == []
    api.page_gate.set()
    await asyncio.wait_for(run.informer.synced.wait(), 60)
    assert run.handler.listed == [({"a", "b", "c"}, "10")]
    await run.stop()


async def test_expired_version_410_lists_again_and_the_handler_gets_the_complete_set():
    api = ScriptedApi(["a", "b", "c"])

    def gap() -> None:  # while the watch was down: b deleted, e created
        api.delete("b", 19)
        api.create("e", 20)

    api.scripts = [[event("ADDED", "d", 11), call(gap), fail(ApiError(410, "Expired", "too old"))]]
    run = Running(api)
    await run.until(lambda: len(run.handler.listed) == 2)
    assert run.handler.listed[1] == ({"a", "c", "e"}, "20")  # b is gone: the store sweeps it
    await run.until(lambda: len(api.watches) == 2)
    assert api.watch_versions() == ["10", "20"]
    assert api.lists == [0, 0]  # at once: nothing to wait for
    assert run.restarts == ["expired"]
    await run.stop()


async def test_connection_errors_back_off_then_resume_from_the_last_version_without_listing():
    api = ScriptedApi(["a"])
    lost = ApiError(0, "ClientConnectorError", "connection refused")
    api.scripts = [
        [event("MODIFIED", "a", 12), bookmark(15), fail(lost)],
        [fail(lost)],
        [fail(ApiError(503, "ServiceUnavailable", "etcd"))],
        [event("MODIFIED", "a", 16)],
    ]
    run = Running(api)
    await run.until(lambda: ("MODIFIED", "a") in run.handler.events[2:])
    assert api.watch_versions() == ["10", "15", "15", "15"]  # the bookmark's version
    times = [at for at, _ in api.watches]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    for gap, nominal in zip(gaps, [0.5, 1, 2], strict=True):  # jitter is ±20 %
        assert 0.8 * nominal <= gap <= 1.2 * nominal
    assert api.lists == [0]
    assert ("BOOKMARK", "") not in run.handler.events
    assert run.restarts == ["connection", "connection", "error"]
    # told once that the API answers again, when the first event after the failures came
    assert run.recovered == [times[-1]]
    await run.stop()


async def test_backoff_is_capped_and_restarts_after_a_working_watch():
    api = ScriptedApi(["a"])
    lost = ApiError(0, "ServerDisconnectedError", "")
    api.scripts = [[fail(lost)] for _ in range(7)]
    api.scripts.append([event("MODIFIED", "a", 11), fail(lost)])
    api.scripts.append([event("MODIFIED", "a", 12)])
    run = Running(api, Timing(resync=600, backoff_initial=0.5, backoff_max=4))
    await run.until(lambda: len(api.watches) == 9)
    times = [at for at, _ in api.watches]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    nominal = [0.5, 1, 2, 4, 4, 4, 4, 0.5]  # capped at 4; events reset it to the start
    for gap, expected in zip(gaps, nominal, strict=True):
        assert 0.8 * expected <= gap <= 1.2 * expected
    await run.stop()


async def test_an_idle_watch_resumes_at_once_from_the_same_version():
    api = ScriptedApi(["a"])
    api.scripts = [[event("MODIFIED", "a", 12), sleep(90), fail(ApiError(0, IDLE, "no data"))]]
    run = Running(api)
    await run.until(lambda: len(api.watches) == 2)
    assert api.watches == [(0, "10"), (90, "12")]  # no backoff, no list
    assert api.lists == [0]
    assert run.restarts == ["idle"]
    await run.stop()


async def test_a_watch_ended_by_the_server_resumes_and_a_resync_lists_again():
    api = ScriptedApi(["a", "b"])
    api.scripts = [
        [sleep(30), END],  # the server's timeoutSeconds: resume, no list (resync not due)
        [call(lambda: api.delete("b", 30)), sleep(40), END],  # b's DELETED event was missed
    ]
    run = Running(api, Timing(resync=60, backoff_initial=0.5, backoff_max=30))
    await run.until(lambda: len(run.handler.listed) == 2)
    assert api.lists == [0, 70]
    assert api.watch_versions()[:2] == ["10", "10"]
    assert run.handler.listed[1] == ({"a"}, "30")  # the resync sweeps b
    assert run.restarts == ["resync"]
    await run.stop()


async def test_a_forbidden_watch_backs_off_then_lists_again():
    api = ScriptedApi(["a"])
    api.scripts = [[fail(ApiError(403, "Forbidden", "RBAC changed"))]]
    run = Running(api)
    await run.until(lambda: len(api.watches) == 2)
    assert len(api.lists) == 2
    assert 0.4 <= api.lists[1] <= 0.6  # after one backoff, not at once
    assert run.restarts == ["error"]
    await run.stop()


async def test_watches_that_end_at_once_are_not_retried_in_a_hot_loop():
    api = ScriptedApi(["a"])
    api.scripts = [[END] for _ in range(20)]  # then the 21st watch stays open
    run = Running(api)
    await run.until(lambda: len(api.watches) == 21)
    first, last = api.watches[0][0], api.watches[-1][0]
    assert last - first >= 1  # 20 empty watches took at least some backoff, not 0 s
    await run.stop()
