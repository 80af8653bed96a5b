"""List+watch of one resource, kept exact across dropped watches, re-lists and restarts.

The discipline client-go's reflector follows, which kopf's watcher does not: list (paged),
then watch from the list's resourceVersion; resume a broken watch from the last version
seen (bookmarks keep it fresh); list again when the apiserver says that version is gone
(410), and on a periodic resync. After every list the handler learns the complete set of
keys that exist, so objects deleted while no watch was open are swept as deletions instead
of lingering as ghosts. `synced` tells when the first list is complete: nothing acts on a
kind before that.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .api import IDLE, Api, ApiError

log = logging.getLogger(__name__)

#: (namespace, name) of an object within one informer's kind.
NameKey = tuple[str, str]


class Handler(Protocol):
    """Where an informer delivers what it sees (synchronously, in arrival order)."""

    def on_object(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        """ADDED, MODIFIED or DELETED (a listed object arrives as ADDED)."""

    def on_listed(
        self, kind: str, namespace: str | None, present: set[NameKey], version: str
    ) -> None:
        """A list at `version` finished: these are ALL the objects of `kind` in `namespace`."""


@dataclass(frozen=True)
class Resource:
    """What one informer watches."""

    kind: str
    #: Collection path from paths.py (namespaced or cluster-wide).
    path: str
    namespace: str | None = None
    metadata_only: bool = False


@dataclass(frozen=True)
class Timing:
    """Retry and resync timing, in seconds."""

    resync: float = 600.0
    backoff_initial: float = 0.5
    #: Small: a retry is one cheap request, and after an outage the operator should be
    #: back within seconds, not after a long backoff.
    backoff_max: float = 5.0


#: (resource kind, reason) each time a watch has to be started again.
RestartObserver = Callable[[str, str], None]


def _key(obj: Mapping[str, Any]) -> NameKey:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class Informer:
    """Keeps `handler` told about every object of one resource; run it as a task."""

    def __init__(
        self,
        api: Api,
        resource: Resource,
        handler: Handler,
        *,
        timing: Timing | None = None,
        on_restart: RestartObserver | None = None,
        on_recovered: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        self.resource = resource
        self.handler = handler
        self.timing = timing or Timing()
        self._on_restart = on_restart
        self._on_recovered = on_recovered
        self.synced = asyncio.Event()
        self.version = ""
        self._failures = 0

    def _succeeded(self) -> None:
        """The apiserver answers again: say so once (reconciles waiting out a backoff go)."""
        if self._failures and self._on_recovered is not None:
            self._on_recovered()
        self._failures = 0

    def _restarted(self, reason: str) -> None:
        if self._on_restart is not None:
            self._on_restart(self.resource.kind, reason)

    async def list_all(self) -> None:
        """List every object (page by page) and hand the complete key set to the handler."""
        present: set[NameKey] = set()
        version = ""
        async for page in self.api.pages(
            self.resource.path, metadata_only=self.resource.metadata_only
        ):
            for obj in page.get("items") or []:
                present.add(_key(obj))
                self.handler.on_object(self.resource.kind, "ADDED", obj)
            version = (page.get("metadata") or {}).get("resourceVersion", version)
        self.handler.on_listed(self.resource.kind, self.resource.namespace, present, version)
        self.version = version
        self.synced.set()

    async def _watch(self) -> None:
        async for event in self.api.watch(
            self.resource.path,
            resource_version=self.version,
            metadata_only=self.resource.metadata_only,
        ):
            obj = event.get("object") or {}
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if event.get("type") != "BOOKMARK":
                self.handler.on_object(self.resource.kind, str(event.get("type")), obj)
            if version:
                self.version = version
            self._succeeded()

    async def run(self) -> None:
        """List, then watch forever; list again after 410 and every `timing.resync`."""
        loop = asyncio.get_running_loop()
        listed_at: float | None = None
        while True:
            try:
                resync_due = listed_at is not None and (
                    loop.time() - listed_at > self.timing.resync
                )
                if listed_at is None or resync_due or not self.version:
                    if resync_due:
                        self._restarted("resync")
                    await self.list_all()
                    listed_at = loop.time()
                    self._succeeded()
                started, seen = loop.time(), self.version
                await self._watch()  # returns when the server ends the watch: resume it
                if loop.time() - started < 1.0 and self.version == seen:
                    # Ended at once with nothing in it (a proxy closing every watch): back
                    # off as after an error instead of asking again in a hot loop.
                    raise ApiError(0, "ShortWatch", "the watch ended at once without events")
            except asyncio.CancelledError:
                raise
            except ApiError as error:
                if error.reason == IDLE:  # resume from where we are; nothing was missed
                    log.debug("%s: watch idle; resuming", self.resource.kind)
                    self._restarted("idle")
                    continue
                if error.status == 410:  # our version is too old: the gap needs a list
                    log.info("%s: watch expired (%s); listing again", self.resource.kind, error)
                    self._restarted("expired")
                    self.version = ""
                    continue
                self._failures += 1
                delay = min(
                    self.timing.backoff_initial * 2 ** (self._failures - 1),
                    self.timing.backoff_max,
                ) * random.uniform(0.8, 1.2)
                level = logging.WARNING if self._failures > 1 else logging.INFO
                log.log(
                    level,
                    "%s: watch failed (%s); retrying in %.1fs",
                    self.resource.kind,
                    error,
                    delay,
                )
                self._restarted("error" if error.status else "connection")
                if error.status not in (0, 429, 500, 502, 503, 504):
                    self.version = ""  # e.g. 403/404: start over with a list once it works
                await asyncio.sleep(delay)
