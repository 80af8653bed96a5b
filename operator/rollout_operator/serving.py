"""HTTP endpoints: /metrics, and /healthz (liveness) + /readyz (readiness) that mean something.

Liveness fails only for what a restart can cure: a reconcile stuck beyond any bound the
request timeouts allow, or an apiserver unreachable for so long that the connection itself
is suspect. Readiness fails as soon as the apiserver is unreachable, or, on the acting
replica, while its caches are not yet complete. A standby is ready when it reaches the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import prometheus_client
from aiohttp import web

from .api import Api, ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bounds:
    """Health limits, in seconds (documented in README: Health)."""

    #: No apiserver answer for this long: not ready.
    api_unready: float = 30.0
    #: No apiserver answer for this long: not alive (restart to get a fresh connection).
    api_dead: float = 300.0
    #: A reconcile running this long is stuck (each request is bounded at 30 s).
    stuck: float = 300.0


@dataclass
class State:
    """What the probes read; the runtime keeps it current."""

    api: Api
    bounds: Bounds = field(default_factory=Bounds)
    leading: bool = False
    standalone: bool = True
    #: Informer sync flags of the active period (empty when not acting).
    synced: Callable[[], bool] = lambda: False
    #: Seconds the oldest running reconcile has taken.
    longest_reconcile: Callable[[], float] = lambda: 0.0
    started: float = field(default_factory=time.monotonic)

    def api_silence(self) -> float:
        """Seconds since the apiserver last answered (since start when it never did)."""
        last = self.api.last_contact or self.started
        return time.monotonic() - last

    async def refresh_contact(self) -> None:
        """Ask the apiserver something cheap when nothing was heard for a while."""
        if self.api_silence() < self.bounds.api_unready / 2:
            return
        with contextlib.suppress(ApiError, TimeoutError):
            await asyncio.wait_for(self.api.request("get", "/version"), 5)

    def liveness(self) -> tuple[bool, str]:
        stuck = self.longest_reconcile()
        if stuck > self.bounds.stuck:
            return False, f"a reconcile has run for {stuck:.0f}s (bound {self.bounds.stuck:.0f}s)"
        silence = self.api_silence()
        if silence > self.bounds.api_dead:
            return False, f"no answer from the apiserver for {silence:.0f}s"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        silence = self.api_silence()
        if silence > self.bounds.api_unready:
            return False, f"no answer from the apiserver for {silence:.0f}s"
        if self.leading or self.standalone:
            if not self.synced():
                return False, "caches are being filled (initial lists not complete)"
            return True, "ok (acting)"
        return True, "ok (standby)"


def _app_health(state: State) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        await state.refresh_contact()
        ok, why = state.liveness()
        return web.Response(status=200 if ok else 503, text=why + "\n")

    async def readyz(_: web.Request) -> web.Response:
        await state.refresh_contact()
        ok, why = state.readiness()
        return web.Response(status=200 if ok else 503, text=why + "\n")

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
    return app


async def _metrics(_: web.Request) -> web.Response:
    body = prometheus_client.generate_latest()
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


class PortInUseError(Exception):
    """A port we were told to serve on is taken."""


async def serve(
    state: State, *, bind: str, metrics_port: int, health_port: int
) -> list[web.AppRunner]:
    """Start the servers (0 disables one); raise PortInUseError naming the port."""
    apps: dict[int, web.Application] = {}
    if health_port:
        apps[health_port] = _app_health(state)
    if metrics_port:
        app = apps.setdefault(metrics_port, web.Application())
        app.add_routes([web.get("/metrics", _metrics)])
    runners: list[web.AppRunner] = []
    for port, app in apps.items():
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, bind, port).start()
        except OSError as error:
            for started in [*runners, runner]:
                await started.cleanup()
            raise PortInUseError(
                f"cannot serve on {bind}:{port} ({error.strerror}); pick another with "
                "--metrics-port/--health-port, or 0 to disable"
            ) from error
        runners.append(runner)
        log.info(
            "Serving %s on %s:%d",
            ", ".join(sorted(resource.canonical for resource in app.router.resources())),
            bind,
            port,
        )
    return runners
