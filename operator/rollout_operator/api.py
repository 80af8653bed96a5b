"""An async Kubernetes API client: JSON over aiohttp, a timeout on every request.

Plain dicts in and out (as watches deliver them): the pure core sees one shape of each
object. Every request has a connect and a read timeout, so a half-open connection costs a
bounded wait and never a stuck worker; watches ask for bookmarks and treat a silence longer
than `Timeouts.watch_idle` as a dead connection. Paths come from `paths.py` only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import urlencode

import aiohttp
import yarl

from . import __version__
from .kubeconfig import Connection

JSON: Final = "application/json"
#: Lists and watches of only the metadata of objects (no data, no spec): a ConfigMap's
#: 4 KiB of content never reaches us unless we GET it.
METADATA_LIST: Final = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
METADATA_OBJECT: Final = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,"
PATCH_TYPES: Final = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
PatchType = Literal["merge", "strategic", "json"]
#: ApiError.reason of a watch that stayed silent longer than Timeouts.watch_idle.
IDLE: Final = "WatchIdle"

_METHODS: Final = {
    "get": "GET",
    "list": "GET",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
}

#: (verb, resource, code, seconds) for each finished request: the operator's metrics hook.
Observer = Callable[[str, str, str, float], None]


class ApiError(Exception):
    """A non-2xx answer (or a failed connection, status 0) from the apiserver."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Timeouts:
    """Bounds on every request, in seconds."""

    connect: float = 5.0
    #: Whole request (GET, PATCH, one page of a list).
    request: float = 30.0
    #: Longest silence on a watch before it is considered dead. The apiserver sends a
    #: bookmark about every minute to watchers that ask for them.
    watch_idle: float = 90.0
    #: Server-side duration of one watch request (it then ends and is resumed).
    watch_server: int = 300


def resource_of(path: str) -> str:
    """`deployments`, `rollouts/status`...: the metric label for a request path."""
    parts = [p for p in path.split("?", maxsplit=1)[0].split("/") if p]
    if parts and parts[0] == "api":
        parts = parts[2:]
    elif parts and parts[0] == "apis":
        parts = parts[3:]
    if len(parts) >= 2 and parts[0] == "namespaces":
        parts = parts[2:]
    if not parts:
        return "unknown"
    return parts[0] if len(parts) < 3 else f"{parts[0]}/{parts[2]}"


class Api:
    """One connection pool to the apiserver; use as `async with Api(connection) as api`."""

    def __init__(
        self,
        connection: Connection,
        *,
        timeouts: Timeouts | None = None,
        pool_size: int = 16,
        observe: Observer | None = None,
        user_agent: str = f"rollout-operator/{__version__}",
    ) -> None:
        self.connection = connection
        self.timeouts = timeouts or Timeouts()
        self._pool_size = pool_size
        self._observe = observe
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        #: monotonic time of the last answer from the apiserver (any status), for health.
        self.last_contact: float | None = None

    async def __aenter__(self) -> Api:
        connector = aiohttp.TCPConnector(ssl=self.connection.ssl_context, limit=self._pool_size)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self._user_agent},
            json_serialize=lambda obj: json.dumps(obj, separators=(",", ":")),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Api used outside 'async with'")
        return self._session

    async def _headers(self, accept: str, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        if self.connection.exec_config is not None:  # may run a subprocess
            authorization = await asyncio.to_thread(self.connection.authorization)
        else:
            authorization = self.connection.authorization()
        if authorization:
            headers["Authorization"] = authorization
        return headers

    def _url(self, path: str, query: Mapping[str, str] | None) -> yarl.URL:
        # Paths are built and quoted by paths.py: tell yarl not to decode or re-quote them.
        text = self.connection.server + path + (f"?{urlencode(query)}" if query else "")
        return yarl.URL(text, encoded=True)

    async def request(
        self,
        verb: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = JSON,
    ) -> dict[str, Any]:
        """One request with the standard timeouts; the decoded JSON answer, or ApiError.

        `verb` is the Kubernetes verb (get, list, create, update, patch, delete).
        """
        method = _METHODS[verb]
        url = self._url(path, query)
        start = time.perf_counter()
        code = "error"
        try:
            for attempt in (1, 2):
                headers = await self._headers(accept, content_type or (JSON if body else None))
                timeout = aiohttp.ClientTimeout(
                    total=self.timeouts.request, connect=self.timeouts.connect
                )
                try:
                    async with self.session.request(
                        method,
                        url,
                        data=None if body is None else json.dumps(body, separators=(",", ":")),
                        headers=headers,
                        timeout=timeout,
                    ) as response:
                        self.last_contact = time.monotonic()
                        payload = await response.read()
                        code = str(response.status)
                        if response.status == 401 and attempt == 1:
                            self.connection.invalidate()  # a rotated token: read it again
                            continue
                        return _decode(response.status, response.reason, payload)
                except (aiohttp.ClientError, TimeoutError) as error:
                    code = "timeout" if isinstance(error, TimeoutError) else "error"
                    raise ApiError(0, type(error).__name__, str(error) or "no answer") from error
            raise AssertionError("unreachable")
        finally:
            if self._observe is not None:
                self._observe(
                    verb, resource_of(path), _code_label(code), time.perf_counter() - start
                )

    async def get(self, path: str) -> dict[str, Any] | None:
        """GET an object; None when it does not exist."""
        try:
            return await self.request("get", path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def pages(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        limit: int = 500,
    ) -> AsyncIterator[dict[str, Any]]:
        """A list, page by page (each a List object), so a big list is never whole in memory."""
        query = {"limit": str(limit)}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        while True:
            page = await self.request(
                "list", path, query=query, accept=METADATA_LIST + JSON if metadata_only else JSON
            )
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    async def list(
        self,
        path: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        limit: int = 500,
    ) -> tuple[list[dict[str, Any]], str]:
        """All items of a list, and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        version = ""
        async for page in self.pages(
            path,
            label_selector=label_selector,
            field_selector=field_selector,
            metadata_only=metadata_only,
            limit=limit,
        ):
            items.extend(page.get("items") or [])
            version = (page.get("metadata") or {}).get("resourceVersion", version)
        return items, version

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a new object."""
        return await self.request("create", path, body=body)

    async def update(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT (replace) an object; its metadata.resourceVersion makes it conditional."""
        return await self.request("update", path, body=body)

    async def patch(
        self,
        path: str,
        body: Any,
        *,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """PATCH an object (merge, strategic merge or JSON patch)."""
        query = {"fieldManager": field_manager} if field_manager else None
        return await self.request(
            "patch", path, query=query, body=body, content_type=PATCH_TYPES[patch_type]
        )

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
    ) -> AsyncIterator[dict[str, Any]]:
        """Raw watch events from `resource_version` on (BOOKMARK included).

        Ends when the server closes the watch; raises ApiError(410) when the version is
        too old (the caller lists again) and ApiError(0) on a dead or silent connection.
        """
        query = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(self.timeouts.watch_server),
        }
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        accept = METADATA_OBJECT + JSON if metadata_only else JSON
        headers = await self._headers(accept, None)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.timeouts.connect, sock_read=self.timeouts.watch_idle
        )
        try:
            async with self.session.get(
                self._url(path, query), headers=headers, timeout=timeout
            ) as response:
                self.last_contact = time.monotonic()
                if response.status == 401:
                    self.connection.invalidate()
                if response.status != 200:
                    _decode(response.status, response.reason, await response.read())
                async for line in response.content:
                    self.last_contact = time.monotonic()
                    if not line.strip():
                        continue
                    try:
                        event: dict[str, Any] = json.loads(line)
                    except ValueError as error:  # cut mid-event: resume like a lost connection
                        raise ApiError(
                            0, "BadWatchData", f"truncated watch event: {error}"
                        ) from error
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiError(
                            int(status.get("code") or 500),
                            str(status.get("reason") or "Error"),
                            str(status.get("message") or "watch error"),
                        )
                    yield event
        except TimeoutError as error:  # silence: quiet resources get no bookmarks either
            raise ApiError(0, IDLE, f"no data for {self.timeouts.watch_idle:g}s") from error
        except aiohttp.ClientError as error:
            raise ApiError(
                0, type(error).__name__, str(error) or "watch connection lost"
            ) from error


def _code_label(code: str) -> str:
    return f"{code[0]}xx" if code[:1] == "2" else code


def _decode(status: int, reason: str | None, payload: bytes) -> dict[str, Any]:
    try:
        data: Any = json.loads(payload) if payload else None
    except ValueError:
        data = None
    if 200 <= status < 300:
        if not isinstance(data, dict):  # a proxy's page, an empty body: no answer at all
            shown = payload[:100].decode(errors="replace") or "an empty body"
            raise ApiError(0, "InvalidResponse", f"HTTP {status} without a JSON object: {shown}")
        result: dict[str, Any] = data
        return result
    if not isinstance(data, dict):
        data = {"message": payload[:200].decode(errors="replace")} if payload else {}
    raise ApiError(
        status,
        str(data.get("reason") or reason or "Error"),
        str(data.get("message") or reason or "request failed"),
    )
