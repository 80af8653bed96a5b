"""The thin shell around `decide`: observe, decide, apply — and nothing decided here.

Informer events only update the store and enqueue Rollout keys. `reconcile` runs per key
(never concurrently for one key): it observes (store, plus a GET of what the store lacks),
asks `decide` for the writes, makes them, and hands any failed write back to the pure core
(`after_write`) to learn what that failure means. Nothing is written when the decision
equals what exists.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import logs, metrics, paths, rootcause
from .api import Api, ApiError
from .confighash import comparable, content_hash, keyed_hash
from .conflicts import ConflictSettings
from .decide import (
    Decision,
    Event,
    Observation,
    WriteFailure,
    after_write,
    decide,
    status_patch,
    with_cause,
)
from .names import FIELD_MANAGER, GROUP, KIND, VERSION, WORKLOAD_PLURALS
from .references import is_ignored
from .restarts import Observed
from .spec import ConfigRef, InvalidSpecError, parse_spec
from .status import parse_timestamp
from .store import ObjectKey, RolloutKey, Store, target_key, version_of
from .workqueue import RetryableError, WorkQueue

log = logging.getLogger(__name__)

CONFIG_KINDS = ("ConfigMap", "Secret")


@dataclass(frozen=True)
class ControllerSettings:
    """Behaviour knobs, from the command line."""

    secrets_enabled: bool = False
    #: Quiet time after a config edit before restarting, so a burst restarts once.
    restart_debounce: float = 1.0
    workers: int = 8
    #: Who posts Events (reportingInstance): the pod name.
    instance: str = FIELD_MANAGER
    #: Minimum seconds between progress-only status writes of one Rollout.
    status_interval: float = 5.0
    conflicts: ConflictSettings = field(default_factory=ConflictSettings)


class TransientError(RetryableError):
    """A write failed for a reason that may pass (timeout, 5xx, 429): retry with backoff."""


class Controller:
    """Owns the store and the queue for one active period of the operator."""

    def __init__(
        self, api: Api, settings: ControllerSettings, secret_key: bytes | None = None
    ) -> None:
        self.api = api
        self.settings = settings
        self.secret_key = secret_key
        self.store = Store()
        self.queue: WorkQueue[RolloutKey] = WorkQueue(self.reconcile, workers=settings.workers)
        #: monotonic time of this process's last status write, per Rollout (coalescing).
        self._status_written: dict[RolloutKey, float] = {}
        #: Config GETs in flight, shared by the Rollouts that reference the same object.
        self._fetching: dict[ObjectKey, asyncio.Future[None]] = {}

    # Informer events: cheap, synchronous, no I/O. --------------------------------------
    def _enqueue(self, keys: set[RolloutKey], delay: float = 0.0) -> None:
        for key in keys:
            self.queue.add(key, delay)

    def on_object(self, kind: str, event_type: str, obj: Mapping[str, Any]) -> None:
        """An informer saw `obj` (listed, added, modified or deleted)."""
        meta = obj.get("metadata") or {}
        deleted = event_type == "DELETED"
        if kind == KIND:
            if deleted:
                self._status_written.pop((meta["namespace"], meta["name"]), None)
                self._enqueue(self.store.delete_rollout(meta["namespace"], meta["name"]))
            else:
                self._enqueue(self.store.put_rollout(obj))
            return
        key: ObjectKey = (str(meta.get("namespace") or ""), kind, str(meta.get("name") or ""))
        owners = self.store.referenced(key)
        if not owners:
            return
        if kind in CONFIG_KINDS:
            if self.store.put_config(key, None if deleted else meta):
                self._enqueue(owners)
        elif self.store.put_workload(key, None if deleted else obj):
            self._enqueue(owners)

    def on_listed(
        self, kind: str, namespace: str | None, present: set[tuple[str, str]], version: str
    ) -> None:
        """A list completed: objects missing from it were deleted while unwatched."""
        self._enqueue(self.store.sweep(kind, namespace, present, version))

    def enqueue_all(self) -> None:
        """Reconcile every known Rollout (at the start of an active period)."""
        self._enqueue(set(self.store.rollouts))

    # Observe ---------------------------------------------------------------------------
    async def _target(self, rollout: Mapping[str, Any]) -> Mapping[str, Any] | None:
        key = target_key(rollout)
        if key is None or key[1] not in WORKLOAD_PLURALS:
            return None
        if key not in self.store.workloads:
            namespace, kind, name = key
            self.store.put_workload(key, await self.api.get(paths.workload(kind, namespace, name)))
        return self.store.workloads.get(key)

    def _hash(self, key: ObjectKey, obj: Mapping[str, Any]) -> str:
        namespace, kind, name = key
        if kind == "Secret":
            if self.secret_key is None:
                raise RuntimeError("Secret hashing without a key")
            return keyed_hash(self.secret_key, kind, namespace, name, obj)
        return content_hash(obj)

    async def _fetch_config(self, key: ObjectKey) -> None:
        """GET one config once, however many Rollouts ask for it at the same time."""
        running = self._fetching.get(key)
        if running is None:
            running = asyncio.ensure_future(self._get_config(key))
            self._fetching[key] = running
            running.add_done_callback(lambda _: self._fetching.pop(key, None))
        await asyncio.shield(running)

    async def _get_config(self, key: ObjectKey) -> None:
        """GET one config, keep only its hash (the content is dropped at once)."""
        namespace, kind, name = key
        obj = await self.api.get(paths.config(kind, namespace, name))
        if obj is None:
            self.store.put_config_hash(key, None, None)
            return
        self.store.put_config_hash(key, version_of(obj), self._hash(key, obj), is_ignored(obj))

    def _recorded_hash(
        self, rollout: Mapping[str, Any], key: ObjectKey, version: str
    ) -> str | None:
        """The hash status.configs recorded for this exact version, when still comparable."""
        _, kind, name = key
        for entry in (rollout.get("status") or {}).get("configs") or []:
            if (
                entry.get("kind") == kind
                and entry.get("name") == name
                and entry.get("resourceVersion") == version
                and entry.get("hash")
            ):
                digest = str(entry["hash"])
                sample = self._hash(key, {}) if kind == "Secret" else content_hash({})
                return digest if comparable(digest, sample) else None
        return None

    async def _configs(
        self, key: RolloutKey, rollout: Mapping[str, Any]
    ) -> tuple[dict[ConfigRef, Observed | None], float]:
        """Every referenced ConfigMap/Secret as it is now, and how long edits still settle."""
        observed: dict[ConfigRef, Observed | None] = {}
        settling = 0.0
        now = time.monotonic()
        for ref_key in self.store.config_refs(key):
            _, kind, name = ref_key
            if kind == "Secret" and (not self.settings.secrets_enabled or self.secret_key is None):
                continue
            state = self.store.configs.get(ref_key)
            if state is not None and state.version is not None and state.current_hash is None:
                recorded = self._recorded_hash(rollout, ref_key, state.version)
                if recorded is not None:
                    self.store.put_config_hash(ref_key, state.version, recorded)
                    state = self.store.configs.get(ref_key)
            if state is None or (state.version is not None and state.current_hash is None):
                await self._fetch_config(ref_key)
                state = self.store.configs.get(ref_key)
            if state is None or state.version is None or state.current_hash is None:
                observed[ConfigRef(kind, name)] = None
                continue
            observed[ConfigRef(kind, name)] = Observed(
                state.current_hash, state.version, state.ignored
            )
            if state.changed_at is not None:
                settling = max(settling, state.changed_at + self.settings.restart_debounce - now)
        return observed, settling

    async def _observe(self, key: RolloutKey, rollout: Mapping[str, Any]) -> Observation:
        now = datetime.now(UTC)
        try:
            parse_spec(rollout.get("spec") or {})
        except InvalidSpecError:  # decide() says what is wrong; fetch nothing it names
            return Observation(rollout=rollout, target=None, configs={}, now=now)
        claimed_by = self.store.claimed_by(key)
        target = None if claimed_by else await self._target(rollout)
        configs, settling = await self._configs(key, rollout)
        written = self._status_written.get(key)
        return Observation(
            rollout=rollout,
            target=target,
            configs=configs,
            now=now,
            config_settling=settling,
            claimed_by=claimed_by,
            secrets_enabled=self.settings.secrets_enabled and self.secret_key is not None,
            since_status_write=None if written is None else time.monotonic() - written,
            status_interval=self.settings.status_interval,
            conflict_settings=self.settings.conflicts,
        )

    # Reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: RolloutKey) -> float | None:
        """Bring one Rollout's workload and status in line; return when to look again."""
        rollout = self.store.rollouts.get(key)
        if rollout is None:
            self._status_written.pop(key, None)
            return None
        try:
            observation = await self._observe(key, rollout)
            decision = await self._apply(observation, decide(observation))
            if decision.refetch_rollout:  # our copy was older than the Rollout: read it again
                fresh = await self.api.get(paths.rollout(*key))
                if fresh is None:
                    self._enqueue(self.store.delete_rollout(*key))
                else:
                    self.store.put_rollout(fresh)
        except ApiError as error:  # a read failed: nothing was decided, try again later
            metrics.RECONCILE_ERRORS.labels(str(error.status or error.reason)).inc()
            raise TransientError(str(error)) from error
        metrics.RECONCILES.labels("ok").inc()
        return decision.requeue_after

    async def _apply(self, obs: Observation, decision: Decision) -> Decision:
        if decision.patch is not None:
            decision = await self._patch_workload(obs, decision)
        if decision.forget:
            return decision
        if decision.explain is not None:
            decision = with_cause(decision, await self._explain(obs, decision.explain))
        if decision.conflict_started:
            metrics.CONFLICTS.labels(obs.rollout["spec"]["targetRef"]["kind"]).inc()
        return await self._write_status(obs, decision)

    async def _explain(self, obs: Observation, images: Mapping[str, str]) -> str | None:
        """One read of the failed revision's pods and their Events (never a watch)."""
        namespace = obs.rollout["metadata"]["namespace"]
        selector = rootcause.label_selector(obs.target or {})
        if selector is None:
            return None
        try:
            pods, _ = await self.api.list(paths.pods(namespace), label_selector=selector)
            events, _ = await self.api.list(
                paths.events(namespace), field_selector="involvedObject.kind=Pod,type=Warning"
            )
        except ApiError as error:
            return f"could not read the pods to tell why ({error})"
        since = (obs.rollout.get("status") or {}).get("startedAt")
        return rootcause.explain(pods, events, images, since)

    async def _patch_workload(self, obs: Observation, decision: Decision) -> Decision:
        assert decision.patch is not None
        key = target_key(obs.rollout)
        assert key is not None
        namespace, kind, name = key
        try:
            patched = await self.api.patch(
                paths.workload(kind, namespace, name),
                decision.patch,
                patch_type="strategic",
                field_manager=FIELD_MANAGER,
            )
        except ApiError as error:
            return self._failed(
                obs, decision, WriteFailure("workload", error.status, error.message)
            )
        self.store.put_workload(key, patched)
        plan = decision.plan
        if plan is not None and plan.changes:
            metrics.IMAGE_UPDATES.labels(kind).inc()
        if plan is not None and plan.restart is not None:
            metrics.RESTARTS.labels(kind).inc()
        for event in decision.events:
            log.info(
                "%s %s/%s: %s",
                event.reason,
                namespace,
                obs.rollout["metadata"]["name"],
                event.message,
            )
        return decision

    def _failed(self, obs: Observation, decision: Decision, failure: WriteFailure) -> Decision:
        """Ask the core what a failed write means; only transient failures raise."""
        outcome = after_write(obs, decision, failure)
        if outcome.refetch_target:
            key = target_key(obs.rollout)
            if key is not None:
                self.store.workloads.pop(key, None)
        if outcome.retry:
            metrics.RECONCILE_ERRORS.labels(str(failure.status or "connection")).inc()
            raise TransientError(
                f"writing {failure.what} failed: {failure.status} {failure.message}"
            )
        if outcome.forget:
            meta = obs.rollout["metadata"]
            # whoever shared its workload may own it now
            self._enqueue(self.store.delete_rollout(meta["namespace"], meta["name"]))
        return outcome

    async def _write_status(self, obs: Observation, decision: Decision) -> Decision:
        rollout = obs.rollout
        meta = rollout["metadata"]
        current = rollout.get("status") or {}
        if decision.status is not None:
            patch = status_patch(current, decision.status)
            if patch:
                try:
                    written = await self.api.patch(
                        paths.rollout_status(meta["namespace"], meta["name"]),
                        # Conditional on the version decided from: a status never lands on a
                        # newer spec, nor on a Rollout deleted and created again meanwhile.
                        {
                            "metadata": {"resourceVersion": meta.get("resourceVersion")},
                            "status": patch,
                        },
                        patch_type="merge",
                    )
                except ApiError as error:
                    return self._failed(
                        obs, decision, WriteFailure("status", error.status, error.message)
                    )
                self.store.put_rollout(written)  # the next decision must see this status
                self._status_written[(meta["namespace"], meta["name"])] = time.monotonic()
                self._observe_completion(current, decision.status)
                self._log_outcome(meta, current, decision.status)
        for event in decision.events:
            await self._post_event(rollout, event)
        return decision

    @staticmethod
    def _log_outcome(
        meta: Mapping[str, Any], before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> None:
        """One log line per outcome: a new revision, or a new phase/reason."""
        about = logs.about(meta["namespace"], meta["name"], after.get("reason"))
        if after.get("revision") != before.get("revision") and after.get("history"):
            entry = after["history"][0]
            log.info(
                "Revision %s (%s): %s", entry.get("revision"), entry.get("trigger"),
                entry.get("changeCause"), extra=about,
            )  # fmt: skip
        if (after.get("phase"), after.get("reason")) != (before.get("phase"), before.get("reason")):
            level = (
                logging.WARNING
                if after.get("phase") in ("Failed", "Blocked", "RolledBack")
                else logging.INFO
            )
            log.log(level, "%s: %s", after.get("phase"), after.get("message"), extra=about)
            if after.get("phase") == "RolledBack" and before.get("phase") != "RolledBack":
                metrics.ROLLBACKS.labels(str(after.get("target", "?/")).split("/")[0]).inc()

    async def _post_event(self, rollout: Mapping[str, Any], event: Event) -> None:
        """Record a core/v1 Event on the Rollout; an Event is a courtesy, never a failure."""
        meta = rollout["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": self.settings.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.api.create(paths.events(meta["namespace"]), body)
        except ApiError as error:
            log.warning("Could not post event %s on %s: %s", event.reason, meta["name"], error)

    @staticmethod
    def _observe_completion(before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        if after.get("completedAt") and not before.get("completedAt") and after.get("startedAt"):
            elapsed = parse_timestamp(after["completedAt"]) - parse_timestamp(after["startedAt"])
            kind = (after.get("target") or "?/").split("/")[0]
            metrics.ROLLOUT_DURATION.labels(kind).observe(elapsed.total_seconds())
