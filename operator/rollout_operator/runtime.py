"""One operator process: probes, the Secret-hashing key, leader election, active periods.

An *active period* is the time this replica acts (always, when standalone; while it holds
the Lease, with --leader-elect). Each period starts from nothing: a fresh store filled by
fresh lists, and no reconcile before every informer's first list is complete. So a replica
that takes over never acts on what it remembered from an earlier period.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
from dataclasses import dataclass

from . import metrics, paths
from .api import Api
from .controller import Controller, ControllerSettings
from .hashkey import KeyUnavailableError, load_or_create
from .informer import Informer, Resource
from .leader import LeaderElector, LeaseConfig
from .names import KIND, WORKLOAD_PLURALS
from .serving import State

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeSettings:
    """Everything `rollout-operator run` decided from its flags and the RBAC preflight."""

    controller: ControllerSettings
    #: Namespaces to watch; ("",) means the whole cluster.
    namespaces: tuple[str, ...] = ("",)
    leader: LeaseConfig | None = None
    #: (namespace, name) of the Secret-hashing key; needed when Secrets are enabled.
    hash_key: tuple[str, str] | None = None


def _collection(kind: str, namespace: str | None) -> str:
    if kind == KIND:
        return paths.rollouts(namespace)
    if kind in WORKLOAD_PLURALS:
        return paths.workloads(kind, namespace)
    return paths.configs(kind, namespace)


def resources(settings: RuntimeSettings, secrets: bool) -> list[Resource]:
    """What to watch: Rollouts and workloads whole, ConfigMaps/Secrets metadata only."""
    kinds = [KIND, *WORKLOAD_PLURALS, "ConfigMap", *(["Secret"] if secrets else [])]
    return [
        Resource(kind, _collection(kind, ns or None), ns or None, kind in ("ConfigMap", "Secret"))
        for ns in settings.namespaces
        for kind in kinds
    ]


def release_freed_memory() -> None:
    """Hand the heap the initial lists used back to the system (glibc's malloc_trim).

    The pages of the initial lists are parsed and dropped, but glibc keeps the freed heap:
    about 13 MiB on a cluster with 10,000 objects. Elsewhere (musl, macOS) nothing happens.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Runtime:
    """Runs until cancelled; `state` is what /healthz and /readyz read."""

    def __init__(self, api: Api, settings: RuntimeSettings, state: State) -> None:
        self.api = api
        self.settings = settings
        self.state = state
        self.controller: Controller | None = None
        self._secret_key: bytes | None = None

    async def run(self) -> None:
        """Load the key, then act (standalone) or elect and act while leading."""
        secrets = self.settings.controller.secrets_enabled
        if secrets and self.settings.hash_key is not None:
            try:
                self._secret_key = await load_or_create(self.api, *self.settings.hash_key)
            except KeyUnavailableError as error:
                log.error("%s; Secret references are reported as SecretsDisabled", error)
        if self.settings.leader is None:
            self.state.standalone = True
            metrics.LEADER.set(1)
            await self._active()
            return
        self.state.standalone = False
        elector = LeaderElector(self.api, self.settings.leader, self._on_leading)
        await elector.run(self._active)

    def _on_leading(self, leading: bool) -> None:
        self.state.leading = leading
        metrics.LEADER.set(1 if leading else 0)

    async def _active(self) -> None:
        """One active period: fill the caches, then reconcile until cancelled."""
        settings = self.settings.controller
        secrets = settings.secrets_enabled and self._secret_key is not None
        controller = Controller(self.api, settings, self._secret_key if secrets else None)
        informers = [
            Informer(
                self.api,
                resource,
                controller,
                on_restart=lambda kind, reason: metrics.WATCH_RESTARTS.labels(kind, reason).inc(),
                on_recovered=controller.queue.retry_failed_now,
            )
            for resource in resources(self.settings, secrets)
        ]
        self.state.synced = lambda: all(i.synced.is_set() for i in informers)
        self.state.longest_reconcile = controller.queue.longest_running
        self.controller = controller
        tasks = [
            asyncio.create_task(i.run(), name=f"informer {i.resource.kind}") for i in informers
        ]
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for informer in informers:
                await informer.synced.wait()
                metrics.INFORMER_SYNCED.labels(informer.resource.kind).set(1)
            log.info(
                "Caches filled in %.2fs: %d Rollouts; reconciling",
                loop.time() - started,
                len(controller.store.rollouts),
            )
            release_freed_memory()
            controller.queue.start()
            controller.enqueue_all()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
            await controller.queue.stop()
            for informer in informers:
                metrics.INFORMER_SYNCED.labels(informer.resource.kind).set(0)
            self.state.synced = lambda: False
            self.state.longest_reconcile = lambda: 0.0
            self.controller = None

    def rollouts(self) -> list[dict[str, object]]:
        """The Rollouts of the current active period (for the per-Rollout metrics)."""
        controller = self.controller
        return list(controller.store.rollouts.values()) if controller is not None else []
