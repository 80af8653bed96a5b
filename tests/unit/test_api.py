"""The API client against a real HTTP server on 127.0.0.1 (aiohttp.web, ephemeral port).

Real time, small bounds (Timeouts of a few hundred ms); assertions are on what happened
(error types, headers, queries), never on elapsed time. Every call is wrapped in a guard
(`bounded`) so a missing timeout fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from aiohttp import web

from rollout_operator.api import IDLE, Api, ApiError, Timeouts, resource_of
from rollout_operator.kubeconfig import Connection

pytestmark = pytest.mark.asyncio

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONFIGMAPS = "/api/v1/namespaces/team/configmaps"
SMALL = Timeouts(connect=1.0, request=0.3, watch_idle=0.3, watch_server=60)


async def bounded(awaitable: Awaitable[T]) -> T:
    """Fail (with TimeoutError, not ApiError) if the client's own bound did not apply."""
    return await asyncio.wait_for(awaitable, 5)


class Server:
    """An HTTP server whose one route runs `self.handler`; it records every request."""

    def __init__(self) -> None:
        self.handler: Handler = self._ok
        self.requests: list[web.Request] = []
        self.runner: web.AppRunner | None = None
        self.url = ""
        #: Handlers that stall wait on this; set on stop so shutdown does not wait for them.
        self.closing = asyncio.Event()

    @staticmethod
    async def _ok(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        return await self.handler(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self.closing.set()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    running = Server()
    await running.start()
    yield running
    await running.stop()


def connect(url: str, **kwargs: Any) -> Connection:
    return Connection(server=url, ssl_context=ssl.create_default_context(), **kwargs)


@pytest_asyncio.fixture
async def api(server: Server) -> AsyncIterator[tuple[Api, list[tuple[str, str, str]]]]:
    observed: list[tuple[str, str, str]] = []
    client = Api(
        connect(server.url, token="secret"),
        timeouts=SMALL,
        observe=lambda verb, resource, code, seconds: observed.append((verb, resource, code)),
    )
    async with client:
        yield client, observed


def status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "status": "Failure", "reason": reason, "message": message}
    return web.json_response({**body, "code": code}, status=code)


# --- timeouts ------------------------------------------------------------------------------


async def test_a_request_to_a_server_that_never_answers_times_out(api):
    client, observed = api

    done = asyncio.Event()

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: Any) -> None:
        await done.wait()
        writer.close()

    silent = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    client.connection.server = f"http://127.0.0.1:{port}"
    try:
        with pytest.raises(ApiError) as caught:
            await bounded(client.get(CONFIGMAPS + "/a"))
    finally:
        done.set()
        silent.close()
    assert caught.value.status == 0
    assert observed == [("get", "configmaps", "timeout")]


async def test_a_body_that_stalls_midway_times_out(server, api):
    client, _ = api

    async def headers_then_silence(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"items": [')
        await server.closing.wait()
        return response

    server.handler = headers_then_silence
    with pytest.raises(ApiError) as caught:
        await bounded(client.list(CONFIGMAPS))
    assert caught.value.status == 0


async def test_a_refused_connection_is_an_api_error_with_status_0(api):
    client, observed = api
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client.connection.server = f"http://127.0.0.1:{port}"
    with pytest.raises(ApiError) as caught:
        await bounded(client.get(CONFIGMAPS + "/a"))
    assert caught.value.status == 0
    assert observed == [("get", "configmaps", "error")]


# --- answers -------------------------------------------------------------------------------


async def test_404_is_none_for_get_and_an_error_for_other_verbs(server, api):
    client, observed = api

    async def not_found(request: web.Request) -> web.StreamResponse:
        return status(404, "NotFound", 'configmaps "a" not found')

    server.handler = not_found
    assert await bounded(client.get(CONFIGMAPS + "/a")) is None
    with pytest.raises(ApiError) as caught:
        await bounded(client.patch(CONFIGMAPS + "/a", {"data": {}}))
    assert (caught.value.status, caught.value.reason) == (404, "NotFound")
    assert observed == [("get", "configmaps", "404"), ("patch", "configmaps", "404")]


async def test_error_bodies_become_status_reason_and_message(server, api):
    client, _ = api
    answers = iter(
        [
            status(409, "AlreadyExists", 'configmaps "a" already exists'),
            web.Response(status=502, text="<html>Bad Gateway from the proxy</html>"),
            web.Response(status=500, body=b""),
        ]
    )

    async def next_answer(request: web.Request) -> web.StreamResponse:
        return next(answers)

    server.handler = next_answer
    errors = []
    for _ in range(3):
        with pytest.raises(ApiError) as caught:
            await bounded(client.update(CONFIGMAPS + "/a", {"metadata": {"name": "a"}}))
        errors.append((caught.value.status, caught.value.reason, caught.value.message))
    assert errors == [
        (409, "AlreadyExists", 'configmaps "a" already exists'),  # not the HTTP "Conflict"
        (502, "Bad Gateway", "<html>Bad Gateway from the proxy</html>"),
        (500, "Internal Server Error", "Internal Server Error"),
    ]


async def test_401_reads_the_rotated_token_and_retries_once(server, tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text("old\n")
    accepted = {"Bearer old"}
    seen: list[str] = []

    async def auth(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") in accepted:
            return web.json_response({"kind": "ConfigMap"})
        return status(401, "Unauthorized", "Unauthorized")

    server.handler = auth
    async with Api(connect(server.url, token_file=token_file), timeouts=SMALL) as client:
        assert await bounded(client.get(CONFIGMAPS + "/a")) == {"kind": "ConfigMap"}
        token_file.write_text("new\n")  # the kubelet rotated the bound token
        accepted = {"Bearer new"}
        assert await bounded(client.get(CONFIGMAPS + "/a")) == {"kind": "ConfigMap"}
        assert seen == ["Bearer old", "Bearer old", "Bearer new"]
        accepted = set()  # revoked for good: one retry, then the error
        with pytest.raises(ApiError) as caught:
            await bounded(client.get(CONFIGMAPS + "/a"))
        assert caught.value.status == 401
        assert len(seen) == 5


async def test_a_paged_list_follows_continue_tokens(server, api):
    client, observed = api
    pages = {
        "": ({"continue": "p2", "resourceVersion": "42"}, ["a", "b"]),
        "p2": ({"continue": "p3", "resourceVersion": "42"}, ["c", "d"]),
        "p3": ({"resourceVersion": "42"}, ["e"]),
    }

    async def paged(request: web.Request) -> web.StreamResponse:
        if len(server.requests) > 5:
            return status(500, "Loop", "the client keeps asking for the same pages")
        meta, names = pages[request.query.get("continue", "")]
        items = [{"metadata": {"name": name}} for name in names]
        return web.json_response({"kind": "ConfigMapList", "metadata": meta, "items": items})

    server.handler = paged
    items, version = await bounded(client.list(CONFIGMAPS, label_selector="app=web", limit=2))
    assert [item["metadata"]["name"] for item in items] == ["a", "b", "c", "d", "e"]
    assert version == "42"
    queries = [dict(request.query) for request in server.requests]
    assert [query.get("continue") for query in queries] == [None, "p2", "p3"]
    assert all(q["limit"] == "2" and q["labelSelector"] == "app=web" for q in queries)
    assert observed == [("list", "configmaps", "2xx")] * 3


async def test_metadata_only_lists_and_watches_ask_for_partial_object_metadata(server, api):
    client, _ = api

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch"):
            return web.Response(text="")  # a watch the server ends at once
        return web.json_response({"metadata": {"resourceVersion": "1"}, "items": []})

    server.handler = answer
    await bounded(client.list(CONFIGMAPS, metadata_only=True))
    await bounded(client.list(CONFIGMAPS))
    await bounded(_drain(client.watch(CONFIGMAPS, resource_version="1", metadata_only=True)))
    accepts = [request.headers["Accept"] for request in server.requests]
    assert accepts[0].startswith("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
    assert accepts[0].endswith(",application/json")  # a server without it answers in full
    assert accepts[1] == "application/json"
    assert accepts[2].startswith("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1")


async def test_paths_are_sent_exactly_as_paths_py_quoted_them(server, api):
    client, _ = api
    await bounded(client.get("/api/v1/namespaces/team/configmaps/a%2Fb%41"))
    assert server.requests[0].raw_path == "/api/v1/namespaces/team/configmaps/a%2Fb%41"


async def test_writes_send_json_with_the_patch_type_and_field_manager(server, api):
    client, observed = api
    await bounded(
        client.patch(
            "/apis/rollout-operator.dev/v1alpha1/namespaces/team/rollouts/web/status",
            {"status": {"phase": "Succeeded"}},
            patch_type="strategic",
            field_manager="rollout-operator",
        )
    )
    request = server.requests[0]
    assert request.method == "PATCH"
    assert request.headers["Content-Type"] == "application/strategic-merge-patch+json"
    assert request.headers["Authorization"] == "Bearer secret"
    assert request.query["fieldManager"] == "rollout-operator"
    assert observed == [("patch", "rollouts/status", "2xx")]


async def test_any_answer_counts_as_contact_with_the_apiserver(server, api):
    client, _ = api

    async def broken(request: web.Request) -> web.StreamResponse:
        return status(500, "InternalError", "etcd is sad")

    server.handler = broken
    assert client.last_contact is None
    with pytest.raises(ApiError):
        await bounded(client.get(CONFIGMAPS + "/a"))
    assert client.last_contact is not None  # the apiserver answered: it is reachable


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/api/v1/namespaces/a/configmaps", "configmaps"),
        ("/api/v1/namespaces/a/configmaps/b", "configmaps"),
        ("/api/v1/pods", "pods"),
        ("/apis/apps/v1/namespaces/a/deployments/b?x=1", "deployments"),
        ("/apis/rollout-operator.dev/v1alpha1/namespaces/a/rollouts/b/status", "rollouts/status"),
        ("/apis/coordination.k8s.io/v1/namespaces/a/leases/b", "leases"),
        ("/version", "version"),
    ],
)
async def test_metric_resource_labels(path: str, resource: str):
    assert resource_of(path) == resource


# --- watches -------------------------------------------------------------------------------


async def _drain(events: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event async for event in events]


async def _collect(events: AsyncIterator[dict[str, Any]], into: list[dict[str, Any]]) -> None:
    """Like _drain, but keeps what arrived before an error."""
    async for event in events:
        into.append(event)


def streaming(server: Server, lines: list[dict[str, Any]], then: str = "end") -> Handler:
    """A watch answer: these events, one per line; then end, or stay silent."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for line in lines:
            await response.write(json.dumps(line).encode() + b"\n")
        if then == "silent":
            await server.closing.wait()
        return response

    return handler


def cm(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}}


async def test_a_watch_yields_every_event_including_bookmarks(server, api):
    client, _ = api
    events = [
        {"type": "ADDED", "object": cm("a", "11")},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
        {"type": "MODIFIED", "object": cm("a", "13")},
    ]
    server.handler = streaming(server, events)
    got = await bounded(
        _drain(client.watch(CONFIGMAPS, resource_version="10", label_selector="app=web"))
    )
    assert got == events
    query = server.requests[0].query
    assert query["watch"] == "1"
    assert query["allowWatchBookmarks"] == "true"
    assert query["resourceVersion"] == "10"
    assert query["labelSelector"] == "app=web"
    assert query["timeoutSeconds"] == "60"


async def test_an_error_event_raises_api_error_410(server, api):
    client, _ = api
    expired = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    server.handler = streaming(
        server, [{"type": "ADDED", "object": cm("a", "11")}, {"type": "ERROR", "object": expired}]
    )
    got: list[dict[str, Any]] = []
    with pytest.raises(ApiError) as caught:
        await bounded(_collect(client.watch(CONFIGMAPS, resource_version="10"), got))
    assert (caught.value.status, caught.value.reason, caught.value.message) == (
        410,
        "Expired",
        "too old",
    )
    assert [event["type"] for event in got] == ["ADDED"]


async def test_a_watch_refused_with_a_status_raises_it(server, api):
    client, _ = api

    async def forbidden(request: web.Request) -> web.StreamResponse:
        return status(403, "Forbidden", "configmaps is forbidden")

    server.handler = forbidden
    with pytest.raises(ApiError) as caught:
        await bounded(_drain(client.watch(CONFIGMAPS, resource_version="10")))
    assert (caught.value.status, caught.value.reason) == (403, "Forbidden")


async def test_a_silent_watch_raises_watch_idle(server, api):
    client, _ = api
    server.handler = streaming(server, [{"type": "ADDED", "object": cm("a", "11")}], then="silent")
    got: list[dict[str, Any]] = []
    with pytest.raises(ApiError) as caught:
        await bounded(_collect(client.watch(CONFIGMAPS, resource_version="10"), got))
    assert (caught.value.status, caught.value.reason) == (0, IDLE)
    assert len(got) == 1  # the silence came after a live event


async def test_a_watch_cut_in_the_middle_of_an_event_raises_api_error(server, api):
    client, _ = api

    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"type": "ADDED", "object": {}}\n{"type": "MODI')
        return response

    server.handler = cut
    got: list[dict[str, Any]] = []
    with pytest.raises(ApiError):
        await bounded(_collect(client.watch(CONFIGMAPS, resource_version="10"), got))


@pytest.mark.parametrize("body", [b"<html>Sign in to the proxy</html>", b""], ids=["html", "empty"])
async def test_a_2xx_answer_that_is_not_json_is_an_error(server, api, body: bytes):
    client, _ = api

    async def proxy_page(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, body=body, content_type="text/html")

    server.handler = proxy_page
    with pytest.raises(ApiError):
        await bounded(client.list(CONFIGMAPS))
