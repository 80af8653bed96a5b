"""The thin shell around `decide`: keep the store current, fetch what is missing, write.

Event handlers only update the store and enqueue Rollout keys; `reconcile` runs per key
(never concurrently for one key) and performs at most one workload patch, one status
patch and the decided Events. Nothing is written when the decision equals what exists.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from . import metrics
from .decide import Decision, Observation, blocked, decide, status_patch
from .kube import (
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    ApiError,
    Kube,
    config_path,
    rollout_status_path,
    workload_path,
)
from .names import WORKLOAD_PLURALS
from .spec import ConfigRef
from .status import Phase, parse_timestamp
from .store import ObjectKey, RolloutKey, Store, config_keys, target_key
from .workqueue import WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerSettings:
    """Behaviour knobs, from the command line."""

    secrets_enabled: bool = False
    #: Quiet time after a config edit before restarting, so a burst restarts once.
    restart_debounce: float = 1.0
    workers: int = 8


class Controller:
    """Owns the store and the queue; one instance per operator process."""

    def __init__(self, kube: Kube, settings: ControllerSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.store = Store()
        self.queue: WorkQueue[RolloutKey] = WorkQueue(self.reconcile, workers=settings.workers)
        for phase in ("New", *Phase):
            metrics.ROLLOUTS.labels(phase).set_function(partial(self._rollouts_in, phase))

    async def start(self) -> None:
        """Start the workers (called from kopf's startup handler).

        API calls run in the loop's default executor; size it for every worker to have a
        request in flight (asyncio's default of cores + 4 would queue them on small nodes).
        """
        executor = ThreadPoolExecutor(self.settings.workers * 2, thread_name_prefix="api")
        asyncio.get_running_loop().set_default_executor(executor)
        self.queue.start()

    async def stop(self) -> None:
        """Stop the workers (called from kopf's cleanup handler)."""
        await self.queue.stop()

    # Event entry points: cheap, synchronous, no I/O. --------------------------------------
    def _enqueue(self, keys: set[RolloutKey], delay: float = 0.0) -> None:
        for key in keys:
            self.queue.add(key, delay)
        metrics.QUEUE_DEPTH.set(len(self.queue))

    def on_rollout(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A Rollout was listed, added, modified or deleted."""
        meta = body["metadata"]
        if event_type == "DELETED":
            self._enqueue(self.store.delete_rollout(meta["namespace"], meta["name"]))
        else:
            self._enqueue(self.store.put_rollout(body))

    def on_workload(self, kind: str, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A Deployment/StatefulSet/DaemonSet event; ignored unless a Rollout targets it."""
        meta = body["metadata"]
        key: ObjectKey = (meta["namespace"], kind, meta["name"])
        owners = self.store.referenced(key)
        if not owners:
            return
        if self.store.put_workload(key, None if event_type == "DELETED" else body):
            self._enqueue(owners)

    def on_config(self, kind: str, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A ConfigMap/Secret event; a content change reaches its Rollouts after the debounce."""
        meta = body["metadata"]
        key: ObjectKey = (meta["namespace"], kind, meta["name"])
        owners = self.store.referenced(key)
        if owners and self.store.put_config(key, None if event_type == "DELETED" else body):
            self._enqueue(owners, self.settings.restart_debounce)

    def _rollouts_in(self, phase: str) -> int:
        """For the phase gauge, counted when scraped rather than on every event."""
        rollouts = self.store.rollouts.values()
        return sum(1 for r in rollouts if (r.get("status") or {}).get("phase", "New") == phase)

    # Reconcile ------------------------------------------------------------------------
    async def _target(self, rollout: Mapping[str, Any]) -> Mapping[str, Any] | None:
        key = target_key(rollout)
        if key is None or key[1] not in WORKLOAD_PLURALS:
            return None
        if key not in self.store.workloads:
            body = await self.kube.get(WORKLOAD_PLURALS[key[1]], workload_path(*key))
            self.store.put_workload(key, body)
        return self.store.workloads.get(key)

    async def _configs(
        self, rollout: Mapping[str, Any]
    ) -> tuple[dict[ConfigRef, str | None], float]:
        hashes: dict[ConfigRef, str | None] = {}
        settling = 0.0
        now = time.monotonic()
        for key in sorted(config_keys(rollout)):
            _, kind, name = key
            if kind == "Secret" and not self.settings.secrets_enabled:
                continue
            if key not in self.store.configs:
                body = await self.kube.get(kind.lower() + "s", config_path(*key))
                self.store.put_config(key, body)
            entry = self.store.configs.get(key)
            if entry is None:
                continue
            hashes[ConfigRef(kind, name)] = entry.hash
            if entry.changed_at is not None:
                settling = max(settling, entry.changed_at + self.settings.restart_debounce - now)
        return hashes, settling

    async def reconcile(self, key: RolloutKey) -> float | None:
        """Bring one Rollout's workload and status in line; return when to look again."""
        rollout = self.store.rollouts.get(key)
        if rollout is None:
            return None
        metrics.QUEUE_DEPTH.set(len(self.queue))
        try:
            claimed_by = self.store.claimed_by(key)
            target = None if claimed_by else await self._target(rollout)
            configs, settling = await self._configs(rollout)
            observation = Observation(
                rollout=rollout,
                target=target,
                configs=configs,
                now=datetime.now(UTC),
                config_settling=settling,
                claimed_by=claimed_by,
                secrets_enabled=self.settings.secrets_enabled,
            )
            decision = decide(observation)
            if decision.patch is not None:
                decision = await self._patch_workload(observation, decision)
            await self._write(rollout, decision)
        except ApiError as error:
            metrics.RECONCILE_ERRORS.labels(str(error.status)).inc()
            raise
        metrics.RECONCILES.labels("ok").inc()
        return decision.requeue_after

    async def _patch_workload(self, observation: Observation, decision: Decision) -> Decision:
        assert decision.patch is not None
        assert decision.plan is not None
        key = target_key(observation.rollout)
        assert key is not None
        namespace, kind, name = key
        try:
            patched = await self.kube.patch(
                WORKLOAD_PLURALS[kind],
                workload_path(namespace, kind, name),
                decision.patch,
                STRATEGIC_MERGE_PATCH,
            )
        except ApiError as error:
            if error.status == 409:  # our copy was stale; the watch brings the new one
                log.info(
                    "Conflict patching %s/%s %s; retrying with a fresh copy", namespace, kind, name
                )
                self.store.workloads.pop(key, None)
                return Decision(requeue_after=0.2)
            if error.status == 403:
                return blocked(
                    observation,
                    "Forbidden",
                    f"the operator may not patch {kind} {name!r} in namespace {namespace!r}: "
                    f"{error.message}; grant its ServiceAccount 'patch' on "
                    f"{WORKLOAD_PLURALS[kind]} (see manifests/)",
                )
            raise
        self.store.put_workload(key, patched)
        if decision.plan.changes:
            metrics.IMAGE_UPDATES.labels(kind).inc()
        if decision.plan.restart is not None:
            metrics.RESTARTS.labels(kind).inc()
        log.info("Patched %s %s/%s: %s", kind, namespace, name, decision.patch)
        return decision

    async def _write(self, rollout: Mapping[str, Any], decision: Decision) -> None:
        meta = rollout["metadata"]
        current = rollout.get("status") or {}
        if decision.status is not None:
            patch = status_patch(current, decision.status)
            if patch:
                log.debug("Status of %s/%s: %s", meta["namespace"], meta["name"], patch)
                written = await self.kube.patch(
                    "rollouts/status",
                    rollout_status_path(meta["namespace"], meta["name"]),
                    {"status": patch},
                    MERGE_PATCH,
                )
                self.store.put_rollout(written)  # the next decision must see this status
                self._observe_completion(current, decision.status)
        for event in decision.events:
            try:
                await self.kube.post_event(rollout, event.type, event.reason, event.message)
            except ApiError as error:  # an Event is a courtesy; never fail a reconcile on it
                log.warning("Could not post event %s on %s: %s", event.reason, meta["name"], error)

    @staticmethod
    def _observe_completion(before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        if after.get("completedAt") and not before.get("completedAt") and after.get("startedAt"):
            elapsed = parse_timestamp(after["completedAt"]) - parse_timestamp(after["startedAt"])
            kind = (after.get("target") or "?/").split("/")[0]
            metrics.ROLLOUT_DURATION.labels(kind).observe(elapsed.total_seconds())
