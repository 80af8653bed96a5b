"""/healthz and /readyz for each State, through aiohttp's test client; serve() on real ports.

The API's silence is set by moving `Api.last_contact` into the past (the probes read the
monotonic clock); an Api whose server refuses connections keeps it there, one whose server
answers /version brings it back.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from rollout_operator.api import Api, Timeouts
from rollout_operator.kubeconfig import Connection
from rollout_operator.serving import Bounds, PortInUseError, State, _app_health, serve

pytestmark = pytest.mark.asyncio

BOUNDS = Bounds(api_unready=30, api_dead=300, stuck=300)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def occupied() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest_asyncio.fixture
async def unreachable_api() -> AsyncIterator[Api]:
    """An Api whose apiserver refuses every connection."""
    connection = Connection(f"http://127.0.0.1:{free_port()}", ssl.create_default_context())
    async with Api(connection, timeouts=Timeouts(connect=0.5, request=0.5)) as api:
        yield api


@pytest_asyncio.fixture
async def apiserver() -> AsyncIterator[tuple[str, list[str]]]:
    """A server answering /version: its URL, and the paths it was asked."""
    asked: list[str] = []

    async def version(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.json_response({"gitVersion": "v1.34.4"})

    app = web.Application()
    app.router.add_get("/version", version)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", asked
    await runner.cleanup()


def state_for(api: Api, *, silent_for: float = 0.0, **fields: object) -> State:
    api.last_contact = time.monotonic() - silent_for
    return State(api=api, bounds=BOUNDS, **fields)  # type: ignore[arg-type]


async def probe(state: State) -> dict[str, tuple[int, str]]:
    async with TestClient(TestServer(_app_health(state))) as client:
        answers = {}
        for path in ("/healthz", "/readyz"):
            response = await client.get(path)
            answers[path] = (response.status, (await response.text()).strip())
        return answers


async def test_an_acting_replica_with_filled_caches_is_alive_and_ready(unreachable_api):
    state = state_for(unreachable_api, standalone=True, synced=lambda: True)
    assert await probe(state) == {"/healthz": (200, "ok"), "/readyz": (200, "ok (acting)")}


async def test_an_acting_replica_is_not_ready_until_its_caches_are_filled(unreachable_api):
    state = state_for(unreachable_api, standalone=True, synced=lambda: False)
    answers = await probe(state)
    assert answers["/healthz"] == (200, "ok")
    assert answers["/readyz"] == (503, "caches are being filled (initial lists not complete)")


async def test_a_leader_is_not_ready_until_its_caches_are_filled(unreachable_api):
    state = state_for(unreachable_api, standalone=False, leading=True, synced=lambda: False)
    assert (await probe(state))["/readyz"][0] == 503


async def test_a_standby_is_ready_without_caches(unreachable_api):
    state = state_for(unreachable_api, standalone=False, leading=False, synced=lambda: False)
    assert await probe(state) == {"/healthz": (200, "ok"), "/readyz": (200, "ok (standby)")}


async def test_a_stuck_reconcile_fails_liveness(unreachable_api):
    fine = state_for(unreachable_api, synced=lambda: True, longest_reconcile=lambda: 299.0)
    assert (await probe(fine))["/healthz"] == (200, "ok")
    stuck = state_for(unreachable_api, synced=lambda: True, longest_reconcile=lambda: 301.0)
    assert (await probe(stuck))["/healthz"] == (503, "a reconcile has run for 301s (bound 300s)")


async def test_an_api_silent_beyond_the_ready_bound_fails_readiness_only(unreachable_api):
    state = state_for(unreachable_api, silent_for=40, synced=lambda: True)
    answers = await probe(state)
    assert answers["/healthz"] == (200, "ok")
    assert answers["/readyz"][0] == 503
    assert answers["/readyz"][1].startswith("no answer from the apiserver for 4")


async def test_an_api_silent_beyond_the_dead_bound_fails_liveness(unreachable_api):
    state = state_for(unreachable_api, silent_for=400, synced=lambda: True)
    answers = await probe(state)
    assert answers["/healthz"][0] == 503
    assert answers["/healthz"][1].startswith("no answer from the apiserver for 40")


async def test_an_api_never_heard_from_counts_from_the_start(unreachable_api):
    state = state_for(unreachable_api, synced=lambda: True)
    unreachable_api.last_contact = None
    state.started = time.monotonic() - 40
    assert (await probe(state))["/readyz"][0] == 503


async def test_a_quiet_but_reachable_api_is_asked_and_counts_as_heard(apiserver):
    url, asked = apiserver
    connection = Connection(url, ssl.create_default_context())
    async with Api(connection, timeouts=Timeouts(connect=0.5, request=0.5)) as api:
        state = state_for(api, silent_for=400, synced=lambda: True)
        assert await probe(state) == {"/healthz": (200, "ok"), "/readyz": (200, "ok (acting)")}
    assert asked == ["/version"]  # asked once; the answer kept the second probe quiet


async def test_a_port_in_use_is_an_error_naming_it_and_nothing_is_left_serving(unreachable_api):
    state = state_for(unreachable_api, synced=lambda: True)
    health_port = free_port()
    with occupied() as port, pytest.raises(PortInUseError) as caught:  # health starts first
        await serve(state, bind="127.0.0.1", metrics_port=port, health_port=health_port)
    assert f"cannot serve on 127.0.0.1:{port}" in str(caught.value)
    with socket.socket() as again:  # the health server that did start was stopped again
        again.bind(("127.0.0.1", health_port))


async def test_metrics_and_health_can_share_one_port(unreachable_api):
    state = state_for(unreachable_api, synced=lambda: True)
    port = free_port()
    runners = await serve(state, bind="127.0.0.1", metrics_port=port, health_port=port)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert "python_info" in await response.text()
            async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                assert response.status == 200
    finally:
        for runner in runners:
            await runner.cleanup()
    assert len(runners) == 1
