"""Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it.

One replica acts; the others only try to take the Lease every `retry` seconds and keep no
cache, so a standby costs almost nothing. Expiry is judged on the local monotonic clock from
when this replica last saw the Lease record change (never by comparing clocks across
machines). A leader that cannot renew within `renew_deadline` stops acting before its Lease
can expire for others; a leader that stops cleanly releases the Lease for an instant handover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import paths
from .api import Api, ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseConfig:
    """Which Lease, who we are, and the timing (seconds; client-go's defaults are 15/10/2)."""

    namespace: str
    name: str
    identity: str
    duration: float = 15.0
    renew_deadline: float = 10.0
    retry: float = 2.0


@dataclass(frozen=True)
class Observed:
    """The Lease record as last seen, and when (local monotonic time) it last changed."""

    holder: str
    renew_time: str
    at: float


def micro_time(now: datetime | None = None) -> str:
    """Kubernetes MicroTime."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def may_take(
    spec: Mapping[str, Any], me: str, observed: Observed | None, now: float, duration: float
) -> bool:
    """Whether `me` may write the Lease now: it is ours, free, or expired by our clock."""
    holder = spec.get("holderIdentity") or ""
    if not holder or holder == me:
        return True
    if observed is None or observed.holder != holder:
        return False  # a holder we have not watched for a full duration yet
    lease_duration = float(spec.get("leaseDurationSeconds") or duration)
    return now > observed.at + lease_duration


def observe(spec: Mapping[str, Any], previous: Observed | None, now: float) -> Observed:
    """Update the observation: the clock restarts whenever holder or renewTime changes."""
    holder = spec.get("holderIdentity") or ""
    renew = str(spec.get("renewTime") or "")
    if previous is not None and previous.holder == holder and previous.renew_time == renew:
        return previous
    return Observed(holder, renew, now)


def claimed(spec: Mapping[str, Any], me: str, duration: float) -> dict[str, Any]:
    """The Lease spec after `me` acquires or renews it."""
    now = micro_time()
    ours = spec.get("holderIdentity") == me
    transitions = int(spec.get("leaseTransitions") or 0)
    return {
        **spec,
        "holderIdentity": me,
        "leaseDurationSeconds": int(duration),
        "acquireTime": spec.get("acquireTime") if ours else now,
        "renewTime": now,
        "leaseTransitions": transitions
        if ours or not spec.get("holderIdentity")
        else transitions + 1,
    }


#: Runs while we lead; cancelled when leadership is lost.
Leading = Callable[[], Coroutine[Any, Any, None]]


class LeaderElector:
    """Acquire, renew and release one Lease; run `leading()` only while we hold it."""

    def __init__(
        self, api: Api, config: LeaseConfig, on_change: Callable[[bool], None] | None = None
    ) -> None:
        self.api = api
        self.config = config
        self._on_change = on_change
        self._observed: Observed | None = None
        self.leading = False

    async def _try(self) -> bool:
        """One acquire-or-renew attempt; True when we hold the Lease afterwards."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        path = paths.lease(cfg.namespace, cfg.name)
        lease = await self.api.get(path)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": claimed({}, cfg.identity, cfg.duration),
            }
            try:
                await self.api.create(paths.leases(cfg.namespace), body)
            except ApiError as error:
                if error.status == 409:
                    return False
                raise
            return True
        spec = lease.get("spec") or {}
        self._observed = observe(spec, self._observed, loop.time())
        if not may_take(spec, cfg.identity, self._observed, loop.time(), cfg.duration):
            return False
        lease["spec"] = claimed(spec, cfg.identity, cfg.duration)
        try:
            await self.api.update(path, lease)  # resourceVersion: loses to any other writer
        except ApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def _attempt(self) -> bool:
        try:
            return await self._try()
        except ApiError as error:
            log.warning("Lease %s/%s: %s", self.config.namespace, self.config.name, error)
            return False

    def _set(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            log.info(
                "%s leadership of Lease %s/%s as %s",
                "Acquired" if leading else "Lost",
                self.config.namespace,
                self.config.name,
                self.config.identity,
            )
            if self._on_change is not None:
                self._on_change(leading)

    async def run(self, leading: Leading) -> None:
        """Forever: wait to acquire, lead until renewal fails, then try again."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not await self._attempt():
                    await asyncio.sleep(cfg.retry)
                self._set(True)
                task = asyncio.create_task(leading(), name="leading")
                renewed = loop.time()
                try:
                    while not task.done():
                        done, _ = await asyncio.wait({task}, timeout=cfg.retry)
                        if done:
                            break
                        # A hanging request must not keep us leading past the deadline.
                        left = cfg.renew_deadline - (loop.time() - renewed)
                        try:
                            ok = await asyncio.wait_for(self._attempt(), max(left, 0.001))
                        except TimeoutError:
                            ok = False
                        if ok:
                            renewed = loop.time()
                        elif loop.time() - renewed > cfg.renew_deadline:
                            log.error(
                                "Could not renew the Lease for %.0fs; stepping down",
                                cfg.renew_deadline,
                            )
                            break
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    self._set(False)
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.shield(asyncio.wait_for(self.release(), cfg.retry * 2))

    async def release(self) -> None:
        """Hand the Lease back so a standby takes over at once (on a clean stop)."""
        cfg = self.config
        path = paths.lease(cfg.namespace, cfg.name)
        try:
            lease = await self.api.get(path)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != cfg.identity:
                return
            lease["spec"] = {
                **lease["spec"],
                "holderIdentity": None,
                "leaseDurationSeconds": 1,
                "renewTime": micro_time(),
            }
            await self.api.update(path, lease)
            log.info("Released Lease %s/%s", cfg.namespace, cfg.name)
        except ApiError as error:
            log.warning("Could not release Lease %s/%s: %s", cfg.namespace, cfg.name, error)
