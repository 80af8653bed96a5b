"""Shared fakes for the shell's unit tests.

`FakeApi` stands in for `rollout_operator.api.Api` where a test is about the caller's logic
(leader election, the hash-key Secret, the controller, the runtime), not about HTTP: objects
kept by path, the apiserver's rules that callers rely on (409 AlreadyExists, 409 Conflict on a
stale resourceVersion — for a PUT and for a patch carrying metadata.resourceVersion —, an
update without one is unconditional, 404 for what does not exist), paged lists with label and
field selectors, metadata-only views, watches fed from a change log (so the echo of a write
arrives like the apiserver's), watch gaps that expire every open watch (410), gates that hold
a list open, and injectable faults. Every request is recorded (`requests`), in loop time.
`api.py` itself is tested against a real HTTP server (test_api.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout_operator import controller as controller_module
from rollout_operator import store as store_module
from rollout_operator.api import Api, ApiError

#: Called before a request is carried out: (verb, path, body); may raise or change objects.
Hook = Callable[[str, str, Any], None]

#: prefix (/api/v1 or /apis/<group>/<version>), optional namespace, plural, optional name.
_PATH = re.compile(
    r"^(?P<prefix>/api/v1|/apis/[^/]+/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?$"
)


def in_collection(path: str, collection: str) -> bool:
    """Whether the object at `path` is listed by `collection` (namespaced or cluster-wide)."""
    obj, coll = _PATH.match(path), _PATH.match(collection)
    if obj is None or coll is None or not obj["name"] or coll["name"]:
        return False
    same_kind = (obj["prefix"], obj["plural"]) == (coll["prefix"], coll["plural"])
    return same_kind and (coll["ns"] is None or coll["ns"] == obj["ns"])


def _lookup(obj: Mapping[str, Any], dotted: str) -> Any:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _matches(
    obj: Mapping[str, Any], label_selector: str | None, field_selector: str | None
) -> bool:
    """Equality selectors only (what the operator sends): `a=b,c=d`."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (label_selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    for term in filter(None, (field_selector or "").split(",")):
        key, _, value = term.partition("=")
        if str(_lookup(obj, key)) != value:
            return False
    return True


def metadata_view(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a metadata-only (PartialObjectMetadata) list or watch returns for `obj`."""
    return {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": copy.deepcopy(dict(obj.get("metadata") or {})),
    }


def merged(current: Any, patch: Any, *, strategic: bool) -> Any:
    """A JSON merge patch; `strategic` also merges lists of named items by name."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = copy.deepcopy(dict(current)) if isinstance(current, Mapping) else {}
    for key, value in patch.items():
        held = out.get(key)
        if value is None:
            out.pop(key, None)
        elif (
            strategic
            and isinstance(value, list)
            and isinstance(held, list)
            and all(isinstance(i, Mapping) and "name" in i for i in [*value, *held])
        ):
            items = {i["name"]: copy.deepcopy(i) for i in held}
            for item in value:
                items[item["name"]] = merged(items.get(item["name"]), item, strategic=True)
            out[key] = list(items.values())
        else:
            out[key] = merged(held, value, strategic=strategic)
    return out


@dataclass
class Request:
    """One request as the fake received it."""

    verb: str
    path: str
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    #: Loop time when it arrived.
    at: float = 0.0


@dataclass
class _Watch:
    """An open watch: what it serves and whether a gap expired it."""

    collection: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    expired: bool = False


class FakeApi:
    """An in-memory apiserver behind the Api methods the shell uses."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.requests: list[Request] = []
        self.revision = 0
        #: Every request fails with a connection error (status 0) while True.
        self.down = False
        #: Every request hangs this long, then fails as a request timeout does (half-open).
        self.stall: float | None = None
        #: Errors to raise instead of answering, per verb, first in first out.
        self.faults: dict[str, list[ApiError]] = {}
        #: Errors to raise instead of answering one (verb, path), first in first out.
        self.path_faults: dict[tuple[str, str], list[ApiError]] = {}
        self.hooks: list[Hook] = []
        #: Lists of a collection path wait for its gate (after being recorded).
        self.gates: dict[str, asyncio.Event] = {}
        #: What serving.State reads: monotonic time of the last request.
        self.last_contact: float | None = None
        #: (revision, event type, path, object) of every change made outside a gap.
        self.changes: list[tuple[int, str, str, dict[str, Any]]] = []
        #: Watch requests older than this revision are answered 410 Gone.
        self.compacted = 0
        self._watches: list[_Watch] = []
        #: The newest revision each collection's watches delivered.
        self.delivered: dict[str, int] = {}
        self._silent = False
        self._generated = 0

    # State changes (as any client's writes) -----------------------------------------
    def _next_version(self) -> str:
        self.revision += 1
        return str(self.revision)

    def _record(self, kind: str, path: str, obj: dict[str, Any]) -> None:
        if self._silent:
            return
        self.changes.append((self.revision, kind, path, copy.deepcopy(obj)))
        for watch in self._watches:
            watch.wake.set()

    def put(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store `obj` at `path` as another client would (new resourceVersion)."""
        stored = copy.deepcopy(obj)
        stored.setdefault("metadata", {})["resourceVersion"] = self._next_version()
        kind = "MODIFIED" if path in self.objects else "ADDED"
        self.objects[path] = stored
        self._record(kind, path, stored)
        return copy.deepcopy(stored)

    def remove(self, path: str) -> None:
        """Delete the object at `path` as another client would."""
        gone = self.objects.pop(path)
        gone["metadata"]["resourceVersion"] = self._next_version()
        self._record("DELETED", path, gone)

    @contextlib.contextmanager
    def unwatched(self) -> Iterator[None]:
        """Changes made inside reach no watch (e.g. the apiserver was down); on leaving,
        every open watch ends with 410 Gone and older versions are compacted, so
        informers must list again to learn them."""
        self._silent = True
        try:
            yield
        finally:
            self._silent = False
            self.compacted = self.revision
            for watch in self._watches:
                watch.expired = True
                watch.wake.set()

    # Requests -----------------------------------------------------------------------
    async def _enter(self, verb: str, path: str, body: Any = None, **params: Any) -> None:
        await asyncio.sleep(0)  # a real request always yields to the loop
        self.calls.append((verb, path))
        at = asyncio.get_running_loop().time()
        self.requests.append(Request(verb, path, copy.deepcopy(body), params, at))
        self.last_contact = time.monotonic()
        for hook in self.hooks:
            hook(verb, path, body)
        if self.down:
            raise ApiError(0, "ClientConnectorError", "connection refused")
        if self.stall is not None:
            await asyncio.sleep(self.stall)
            raise ApiError(0, "TimeoutError", "no answer")
        if self.faults.get(verb):
            raise self.faults[verb].pop(0)
        if self.path_faults.get((verb, path)):
            raise self.path_faults[(verb, path)].pop(0)

    def fail(self, verb: str, path: str, *errors: ApiError) -> None:
        """The next requests `verb` `path` fail with `errors`, in order."""
        self.path_faults.setdefault((verb, path), []).extend(errors)

    async def get(self, path: str) -> dict[str, Any] | None:
        await self._enter("get", path)
        found = self.objects.get(path)
        return copy.deepcopy(found) if found is not None else None

    async def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.get("metadata") or {}
        name = meta.get("name")
        if not name:  # metadata.generateName, as Events are posted
            self._generated += 1
            name = f"{meta['generateName']}{self._generated:05d}"
            body = {**body, "metadata": {**meta, "name": name}}
        path = f"{collection}/{name}"
        await self._enter("create", path, body)
        if path in self.objects:
            raise ApiError(409, "AlreadyExists", f"{path} already exists")
        return self.put(path, body)

    async def update(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        await self._enter("update", path, body)
        current = self.objects.get(path)
        if current is None:
            raise ApiError(404, "NotFound", f"{path} not found")
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return self.put(path, body)

    async def patch(
        self,
        path: str,
        body: Any,
        *,
        patch_type: str = "merge",
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Merge or strategic merge patch of an object or of its /status subresource."""
        await self._enter("patch", path, body, patch_type=patch_type, field_manager=field_manager)
        subresource = None
        target = path
        if path not in self.objects and path.endswith("/status"):
            target, subresource = path.removesuffix("/status"), "status"
        current = self.objects.get(target)
        if current is None:
            raise ApiError(404, "NotFound", f"{path} not found")
        body = copy.deepcopy(body)
        wanted = (body.get("metadata") or {}).pop("resourceVersion", None)
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified; please apply again")
        strategic = patch_type == "strategic"
        if subresource == "status":  # only the status moves
            status = merged(current.get("status"), body.get("status"), strategic=strategic)
            after = {**current, "status": status}
        else:
            body.pop("status", None)  # the main resource ignores status (a subresource)
            after = merged(current, body, strategic=strategic)
            if after.get("spec") != current.get("spec"):
                meta = after["metadata"]
                meta["generation"] = int(meta.get("generation") or 0) + 1
        return self.put(target, after)

    def _items(
        self, collection: str, label_selector: str | None, field_selector: str | None
    ) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(obj)
            for path, obj in sorted(self.objects.items())
            if in_collection(path, collection) and _matches(obj, label_selector, field_selector)
        ]

    async def pages(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        limit: int = 500,
    ) -> AsyncIterator[dict[str, Any]]:
        """A consistent snapshot, `limit` items a page (one request per page)."""
        params = {
            "label_selector": label_selector,
            "field_selector": field_selector,
            "metadata_only": metadata_only,
        }
        await self._enter("list", path, **params)
        if path in self.gates:
            await self.gates[path].wait()
        items = self._items(path, label_selector, field_selector)
        if metadata_only:
            items = [metadata_view(item) for item in items]
        version = str(self.revision)
        chunks = [items[i : i + limit] for i in range(0, len(items), limit)] or [[]]
        for number, chunk in enumerate(chunks):
            if number:
                await self._enter("list", path, **params)
            last = number == len(chunks) - 1
            meta = {"resourceVersion": version, "continue": "" if last else f"page{number + 1}"}
            yield {"metadata": meta, "items": chunk}

    # The real method: it only pages through self.pages, which this fake serves.
    list = Api.list

    def open_watches(self, collection: str | None = None) -> int:
        """How many watches (of `collection`, or of anything) are open now."""
        return sum(1 for w in self._watches if collection in (None, w.collection))

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        timeout_seconds: float | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every change after `resource_version` in `path`, then each new one as it happens."""
        await self._enter(
            "watch", path, resource_version=resource_version, metadata_only=metadata_only
        )
        since = int(resource_version or 0)
        if since < self.compacted:
            raise ApiError(410, "Expired", f"too old resource version: {since}")
        watch = _Watch(path)
        self._watches.append(watch)
        position = next((i for i, c in enumerate(self.changes) if c[0] > since), len(self.changes))
        try:
            while True:
                watch.wake.clear()
                while position < len(self.changes) and not watch.expired:
                    revision, kind, changed, obj = self.changes[position]
                    position += 1
                    if in_collection(changed, path) and _matches(
                        obj, label_selector, field_selector
                    ):
                        view = metadata_view(obj) if metadata_only else copy.deepcopy(obj)
                        yield {"type": kind, "object": view}
                        self.delivered[path] = max(self.delivered.get(path, 0), revision)
                if watch.expired:
                    raise ApiError(410, "Expired", "the watch was closed across a gap")
                await watch.wake.wait()
        finally:
            self._watches.remove(watch)


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()


#: What `datetime.now()` says at loop time 0 under `loop_clock`.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def loop_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller's and the store's clocks (monotonic and wall) follow the loop's clock,
    so that with looptime "1.5 s later" is exact for coalescing, debouncing and status times."""

    class LoopTime:
        @staticmethod
        def monotonic() -> float:
            return asyncio.get_running_loop().time()

    class LoopDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> LoopDatetime:
            now = EPOCH + timedelta(seconds=asyncio.get_running_loop().time())
            return cls.fromtimestamp(now.timestamp(), tz)

    monkeypatch.setattr(controller_module, "time", LoopTime)
    monkeypatch.setattr(store_module, "time", LoopTime)
    monkeypatch.setattr(controller_module, "datetime", LoopDatetime)
