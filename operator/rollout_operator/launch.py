"""kopf runs the operator process: lifecycle, signals, a clean stop. Nothing else.

kopf imports the `kubernetes` package for optional helpers whenever it is installed (17 MiB
of RSS in a process that never uses it), so this module, the only one importing kopf,
first makes that import fail. The kubectl plugin never imports this module.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Coroutine  # noqa: E402
from typing import Any  # noqa: E402

import kopf  # noqa: E402
from kopf._core.engines.peering import Identity  # noqa: E402  (not re-exported)

from .kubeconfig import Connection  # noqa: E402

Main = Callable[[], Coroutine[Any, Any, None]]


def run_under_kopf(main: Main, connection: Connection, identity: str) -> BaseException | None:
    """Run `main()` as kopf's operator until it ends or a signal stops it; its error, if any.

    kopf gets an explicit identity (otherwise it calls getpass.getuser(), which fails for a
    uid without a passwd entry, as in every real cluster) and watches nothing itself.
    """
    registry = kopf.OperatorRegistry()
    stop = threading.Event()
    outcome: dict[str, BaseException | None] = {"error": None}
    task: asyncio.Task[None] | None = None

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        nonlocal task
        settings.posting.enabled = False  # our Events are deliberate, not log mirrors
        settings.scanning.disabled = True  # kopf watches nothing itself
        task = asyncio.create_task(main(), name="rollout-operator")

        def finished(done: asyncio.Task[None]) -> None:
            if not done.cancelled():
                outcome["error"] = done.exception()
            stop.set()

        task.add_done_callback(finished)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # kopf only discovers API groups at start; the real work uses our own client.
        authorization = connection.authorization() or ""
        scheme, _sep, token = authorization.partition(" ")
        return kopf.ConnectionInfo(
            server=connection.server,
            ca_data=connection.ca_data,
            insecure=connection.insecure,
            certificate_data=connection.certificate_data,
            private_key_data=connection.private_key_data,
            scheme=scheme or None,
            token=token or None,
        )

    kopf.run(
        registry=registry,
        clusterwide=True,
        standalone=True,
        identity=Identity(identity),
        stop_flag=stop,
    )
    return outcome["error"]
