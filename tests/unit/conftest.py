"""Shared fakes for the shell's unit tests.

`FakeApi` stands in for `rollout_operator.api.Api` where a test is about the caller's logic
(leader election, the hash-key Secret), not about HTTP: objects kept by path, the
apiserver's create/update rules (409 AlreadyExists, 409 Conflict on a stale
resourceVersion, an update without one is unconditional) and injectable faults.
`api.py` itself is tested against a real HTTP server (test_api.py).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

import pytest

from rollout_operator.api import ApiError

#: Called before a request is carried out: (verb, path, body); may raise or change objects.
Hook = Callable[[str, str, Any], None]


class FakeApi:
    """An in-memory apiserver behind the Api methods the shell uses (get, create, update)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.revision = 0
        #: Every request fails with a connection error (status 0) while True.
        self.down = False
        #: Every request hangs this long, then fails as a request timeout does (half-open).
        self.stall: float | None = None
        #: Errors to raise instead of answering, per verb, first in first out.
        self.faults: dict[str, list[ApiError]] = {}
        self.hooks: list[Hook] = []

    def _next_version(self) -> str:
        self.revision += 1
        return str(self.revision)

    def put(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store `obj` at `path` as another client would (new resourceVersion)."""
        stored = copy.deepcopy(obj)
        stored.setdefault("metadata", {})["resourceVersion"] = self._next_version()
        self.objects[path] = stored
        return copy.deepcopy(stored)

    async def _enter(self, verb: str, path: str, body: Any = None) -> None:
        await asyncio.sleep(0)  # a real request always yields to the loop
        self.calls.append((verb, path))
        for hook in self.hooks:
            hook(verb, path, body)
        if self.down:
            raise ApiError(0, "ClientConnectorError", "connection refused")
        if self.stall is not None:
            await asyncio.sleep(self.stall)
            raise ApiError(0, "TimeoutError", "no answer")
        if self.faults.get(verb):
            raise self.faults[verb].pop(0)

    async def get(self, path: str) -> dict[str, Any] | None:
        await self._enter("get", path)
        found = self.objects.get(path)
        return copy.deepcopy(found) if found is not None else None

    async def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"{collection}/{body['metadata']['name']}"
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


@pytest.fixture
def fake_api() -> FakeApi:
    return FakeApi()
