"""A small raw-JSON Kubernetes client for the benchmarks: requests, and watches whose
events are timestamped the moment their bytes arrive.

The measurements must not include the cost of building typed models (the official client's
watch does that before handing an event over), so events are plain dicts here.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
from kubernetes import client as kclient
from kubernetes import config as kconfig

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class ApiError(Exception):
    """A non-2xx answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def load_configuration(kubeconfig: Path) -> kclient.Configuration:
    """The official client's Configuration for a kubeconfig file (its current context)."""
    configuration = kclient.Configuration()
    kconfig.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    return configuration


class Api:
    """GET/POST/PATCH/DELETE of JSON, thread-safe (urllib3 connection pool)."""

    def __init__(self, kubeconfig: Path, pool_size: int = 32) -> None:
        cfg = load_configuration(kubeconfig)
        self.configuration = cfg
        self.host = cfg.host.rstrip("/")
        self.headers = {"Accept": JSON}
        token = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
        if token:
            prefix = (cfg.api_key_prefix or {}).get("authorization", "")
            self.headers["Authorization"] = f"{prefix} {token}".strip()
        self.http = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            cert_reqs="CERT_REQUIRED" if cfg.verify_ssl else "CERT_NONE",
            ca_certs=cfg.ssl_ca_cert,
            cert_file=cfg.cert_file,
            key_file=cfg.key_file,
        )

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        return self.host + path + ("?" + urlencode(query) if query else "")

    def raw(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: float = 60,
    ) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        response = self.http.request(
            method,
            self.url(path, query),
            body=data,
            headers={**self.headers, "Content-Type": content_type},
            timeout=timeout,
            retries=False,
        )
        return response.status, response.data

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = JSON,
        *,
        query: Mapping[str, Any] | None = None,
        timeout: float = 60,
    ) -> dict[str, Any]:
        status, data = self.raw(
            method, path, query=query, body=body, content_type=content_type, timeout=timeout
        )
        payload: dict[str, Any] = json.loads(data) if data else {}
        if not 200 <= status < 300:
            raise ApiError(status, str(payload.get("message") or data[:200]))
        return payload

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        return self.request("GET", path, query=query or None)

    def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, body)

    def patch(
        self, path: str, body: Mapping[str, Any], content_type: str = MERGE_PATCH
    ) -> dict[str, Any]:
        return self.request("PATCH", path, body, content_type)

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except ApiError as error:
            if error.status != 404:
                raise

    def metrics_text(self) -> str:
        """The apiserver's /metrics (what `kubectl get --raw /metrics` prints)."""
        status, data = self.raw("GET", "/metrics", timeout=60)
        if status != 200:
            raise ApiError(status, data[:200].decode(errors="replace"))
        return data.decode()

    def create_many(
        self,
        items: Iterable[tuple[str, Mapping[str, Any]]],
        workers: int = 8,
    ) -> list[tuple[float, dict[str, Any]]]:
        """POST every (collection path, body) on a thread pool; (monotonic done, object) each.

        An object that already exists (409) is fetched instead, so a retried setup works.
        """

        def one(item: tuple[str, Mapping[str, Any]]) -> tuple[float, dict[str, Any]]:
            path, body = item
            try:
                created = self.create(path, body)
            except ApiError as error:
                if error.status != 409:
                    raise
                created = self.get(f"{path}/{body['metadata']['name']}")
            return time.monotonic(), created

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, list(items)))

    def patch_many(
        self,
        items: Iterable[tuple[str, Mapping[str, Any]]],
        content_type: str = STRATEGIC_MERGE_PATCH,
        workers: int = 8,
    ) -> list[float]:
        """PATCH every (object path, patch) on a thread pool; monotonic done time of each."""

        def one(item: tuple[str, Mapping[str, Any]]) -> float:
            self.patch(item[0], item[1], content_type)
            return time.monotonic()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, list(items)))


#: (monotonic arrival time, event type, object)
WatchEvent = tuple[float, str, dict[str, Any]]


class Watch:
    """Watches one collection in a thread: every event is kept, stamped at arrival.

    `mark()` before an action, then `wait(predicate, since=mark)` returns the first
    event after the mark that satisfies the predicate.
    """

    def __init__(
        self,
        api: Api,
        path: str,
        label_selector: str | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
    ) -> None:
        self.api = api
        self.path = path
        self.label_selector = label_selector
        self.on_event = on_event
        self.events: list[WatchEvent] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None
        self._thread: threading.Thread | None = None
        self._rv = ""

    def _query(self, **extra: Any) -> dict[str, Any]:
        query = dict(extra)
        if self.label_selector:
            query["labelSelector"] = self.label_selector
        return query

    def _list(self) -> None:
        listing = self.api.get(self.path, **self._query())
        with self._cond:
            self.objects = {_key(obj): obj for obj in listing.get("items") or []}
        self._rv = listing["metadata"]["resourceVersion"]

    def start(self) -> Watch:
        self._list()
        self._thread = threading.Thread(target=self._run, name=f"watch {self.path}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # best effort; the thread is a daemon
                response.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._stream()
        except BaseException as error:  # surfaced to waiters
            if not self._stop.is_set():
                self.error = error
                with self._cond:
                    self._cond.notify_all()

    def _stream(self) -> None:
        query = self._query(
            watch="1", resourceVersion=self._rv, allowWatchBookmarks="true", timeoutSeconds="290"
        )
        response = self.api.http.request(
            "GET",
            self.api.url(self.path, query),
            headers=self.api.headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=10, read=330),
            retries=False,
        )
        self._response = response
        try:
            if response.status != 200:
                raise ApiError(response.status, response.read()[:200].decode(errors="replace"))
            buffer = b""
            for chunk in response.stream(None):
                arrived = time.monotonic()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._handle(arrived, json.loads(line))
                if self._stop.is_set():
                    return
        finally:
            response.release_conn()

    def _handle(self, arrived: float, event: dict[str, Any]) -> None:
        kind, obj = event.get("type", ""), event.get("object") or {}
        if kind == "BOOKMARK":
            self._rv = obj["metadata"]["resourceVersion"]
            return
        if kind == "ERROR":
            if obj.get("code") == 410:  # expired: list again and go on from there
                self._list()
                return
            raise ApiError(int(obj.get("code") or 0), str(obj.get("message")))
        self._rv = obj["metadata"]["resourceVersion"]
        record = (arrived, kind, obj)
        with self._cond:
            if kind == "DELETED":
                self.objects.pop(_key(obj), None)
            else:
                self.objects[_key(obj)] = obj
            self.events.append(record)
            self._cond.notify_all()
        if self.on_event is not None:
            self.on_event(record)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def wait(
        self,
        predicate: Callable[[str, dict[str, Any]], bool],
        since: int,
        timeout: float = 120,
        what: str = "",
    ) -> WatchEvent:
        """First event at index >= since whose (type, object) satisfies predicate."""
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    if predicate(event[1], event[2]):
                        return event
                if self.error is not None:
                    raise RuntimeError(f"watch {self.path} failed: {self.error}") from self.error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"gave up after {timeout:g}s waiting for {what or 'event'} on {self.path}"
                    )
                self._cond.wait(min(remaining, 1.0))

    def wait_object(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 120,
        what: str = "",
    ) -> float:
        """Until the object satisfies predicate (now, or at a later event); returns when."""
        with self._cond:
            since = len(self.events)
            obj = self.objects.get((namespace, name))
        if obj is not None and predicate(obj):
            return time.monotonic()
        arrived, _, _ = self.wait(
            lambda kind, o: kind != "DELETED" and _key(o) == (namespace, name) and predicate(o),
            since,
            timeout,
            what or f"{namespace}/{name}",
        )
        return arrived

    def current(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._cond:
            return self.objects.get((namespace, name))

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.objects.values())


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")
