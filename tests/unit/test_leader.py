"""LeaderElector against an in-memory Lease API (FakeApi) on a fake clock (looptime).

client-go's timing (duration 15 s, renew deadline 10 s, retry 2 s): every wait is exact loop
time, so "waits a full lease duration" and "steps down before the Lease can expire for others"
are asserted as numbers, in milliseconds of real time.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from rollout_operator import paths
from rollout_operator.leader import LeaderElector, LeaseConfig

pytestmark = [pytest.mark.asyncio, pytest.mark.looptime(idle_timeout=1)]

NS, NAME = "ops", "rollout-operator"
PATH = paths.lease(NS, NAME)
COLLECTION = paths.leases(NS)


def config(identity: str) -> LeaseConfig:
    return LeaseConfig(NS, NAME, identity, duration=15, renew_deadline=10, retry=2)


def lease(holder: str | None, renew: str = "2030-01-01T00:00:00.000000Z") -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "renewTime": renew,
            "leaseTransitions": 3,
        },
    }


class Replica:
    """One elector plus what its `leading()` saw: start and end times on the loop clock."""

    def __init__(self, api: Any, identity: str) -> None:
        self.changes: list[bool] = []
        self.elector = LeaderElector(api, config(identity), self.changes.append)
        self.started: list[float] = []
        self.cancelled: list[float] = []
        self.leads = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _leading(self) -> None:
        loop = asyncio.get_running_loop()
        self.started.append(loop.time())
        self.leads.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(loop.time())
            self.leads.clear()
            raise

    def start(self) -> Replica:
        self.task = asyncio.create_task(self.elector.run(self._leading))
        return self

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def spec(api: Any) -> dict[str, Any]:
    return api.objects[PATH]["spec"]


async def test_acquires_a_missing_lease_at_once(fake_api):
    me = Replica(fake_api, "me").start()
    await asyncio.wait_for(me.leads.wait(), 60)
    assert me.started == [0]
    assert me.changes == [True]
    assert spec(fake_api)["holderIdentity"] == "me"
    assert spec(fake_api)["leaseDurationSeconds"] == 15
    await me.stop()


async def test_acquires_a_released_lease_at_once(fake_api):
    fake_api.put(PATH, lease(None))
    me = Replica(fake_api, "me").start()
    await asyncio.wait_for(me.leads.wait(), 60)
    assert me.started == [0]
    assert spec(fake_api)["holderIdentity"] == "me"
    assert spec(fake_api)["leaseTransitions"] == 3  # a free Lease is no transition
    await me.stop()


async def test_waits_a_full_lease_duration_before_taking_a_lease_held_by_another(fake_api):
    fake_api.put(PATH, lease("other"))  # never renewed again: its holder is gone
    me = Replica(fake_api, "me").start()
    await asyncio.wait_for(me.leads.wait(), 60)
    (took,) = me.started
    assert 15 < took <= 15 + 2  # a whole duration by our clock since we first saw it, + 1 retry
    assert spec(fake_api)["holderIdentity"] == "me"
    assert spec(fake_api)["leaseTransitions"] == 4
    await me.stop()


async def test_never_takes_a_lease_whose_holder_keeps_renewing(fake_api):
    fake_api.put(PATH, lease("other", "t0"))
    me = Replica(fake_api, "me").start()
    for second in range(5, 125, 5):  # the holder renews every 5 s for 2 minutes, then dies
        await asyncio.sleep(5)
        fake_api.put(PATH, lease("other", f"t{second}"))
    assert me.started == []
    assert fake_api.calls.count(("get", PATH)) >= 50  # barrier: it kept looking all along
    await asyncio.wait_for(me.leads.wait(), 60)
    (took,) = me.started
    assert 120 + 15 < took <= 120 + 15 + 2
    await me.stop()


async def test_a_leader_renews_so_a_standby_never_takes_over(fake_api):
    leader = Replica(fake_api, "me").start()
    await asyncio.wait_for(leader.leads.wait(), 60)
    standby = Replica(fake_api, "other").start()
    await asyncio.sleep(120)
    assert fake_api.calls.count(("update", PATH)) >= 50  # renewed every retry (2 s)
    assert leader.started == [0]
    assert leader.cancelled == []
    assert standby.started == []
    assert spec(fake_api)["holderIdentity"] == "me"
    await standby.stop()
    await leader.stop()


async def test_steps_down_when_renewal_fails_for_the_renew_deadline(fake_api):
    loop = asyncio.get_running_loop()
    renewed: list[float] = []

    def record(verb: str, path: str, body: Any) -> None:
        if verb == "update" and not fake_api.down:
            renewed.append(loop.time())

    fake_api.hooks.append(record)
    me = Replica(fake_api, "me").start()
    await asyncio.wait_for(me.leads.wait(), 60)
    await asyncio.sleep(5)
    fake_api.down = True  # the apiserver is unreachable from here on
    async with asyncio.timeout(60):
        while not me.cancelled:
            await asyncio.sleep(0.5)
    last = renewed[-1]
    (stopped,) = me.cancelled
    assert last + 10 < stopped <= last + 10 + 2  # gave up after renew_deadline...
    assert stopped < last + 15  # ...before the Lease can expire for a standby
    assert me.changes == [True, False]
    fake_api.down = False  # back: the Lease still names us, so we lead again at once
    await asyncio.wait_for(me.leads.wait(), 60)
    assert me.changes == [True, False, True]
    await me.stop()


async def test_stop_releases_the_lease_so_a_standby_takes_over_at_once(fake_api):
    leader = Replica(fake_api, "me").start()
    await asyncio.wait_for(leader.leads.wait(), 60)
    standby = Replica(fake_api, "other").start()
    await asyncio.sleep(10)
    stopped = asyncio.get_running_loop().time()
    await leader.stop()
    assert leader.changes == [True, False]
    assert spec(fake_api)["holderIdentity"] is None
    await asyncio.wait_for(standby.leads.wait(), 60)
    (took,) = standby.started
    assert took <= stopped + 2  # one retry, not a lease duration
    await standby.stop()


async def test_a_standby_that_stops_leaves_the_leaders_lease_alone(fake_api):
    leader = Replica(fake_api, "other").start()
    await asyncio.wait_for(leader.leads.wait(), 60)
    standby = Replica(fake_api, "me").start()
    await asyncio.sleep(10)
    before = fake_api.calls.count(("get", PATH))
    await standby.stop()
    assert fake_api.calls.count(("get", PATH)) > before  # barrier: its release looked
    assert spec(fake_api)["holderIdentity"] == "other"
    await leader.stop()


async def test_a_conflicting_update_loses_the_race(fake_api):
    fake_api.put(PATH, lease(None))
    raced: list[float] = []

    def other_replica_writes_first(verb: str, path: str, body: Any) -> None:
        if verb == "update" and not raced:
            raced.append(asyncio.get_running_loop().time())
            fake_api.put(PATH, lease("other", "won"))  # the resourceVersion moves on

    fake_api.hooks.append(other_replica_writes_first)
    me = Replica(fake_api, "me").start()
    await asyncio.wait_for(me.leads.wait(), 60)
    assert raced == [0]
    (took,) = me.started
    assert took > 15  # lost at 0; "other" then never renewed: taken after a full duration
    await me.stop()


async def test_a_conflicting_create_loses_the_race(fake_api):
    raced: list[float] = []

    def other_replica_creates_first(verb: str, path: str, body: Any) -> None:
        if verb == "create" and not raced:
            raced.append(asyncio.get_running_loop().time())
            fake_api.put(PATH, lease("other", "won"))

    fake_api.hooks.append(other_replica_creates_first)
    me = Replica(fake_api, "me").start()
    await asyncio.wait_for(me.leads.wait(), 60)
    assert raced == [0]
    (took,) = me.started
    assert took > 15
    await me.stop()


async def test_a_crash_of_the_active_period_is_raised_after_releasing(fake_api):
    elector = LeaderElector(fake_api, config("me"))

    async def leading() -> None:
        await asyncio.sleep(3)
        raise RuntimeError("active period crashed")

    with pytest.raises(RuntimeError, match="active period crashed"):
        await asyncio.wait_for(elector.run(leading), 60)
    assert spec(fake_api)["holderIdentity"] is None


async def test_a_hanging_renewal_still_steps_down_before_the_lease_expires(fake_api):
    loop = asyncio.get_running_loop()
    renewed: list[float] = []

    def record(verb: str, path: str, body: Any) -> None:
        if verb == "update" and fake_api.stall is None:
            renewed.append(loop.time())

    fake_api.hooks.append(record)
    me = Replica(fake_api, "me").start()
    await asyncio.wait_for(me.leads.wait(), 60)
    await asyncio.sleep(5)
    last = renewed[-1]
    fake_api.stall = 30  # each request now hangs 30 s, then times out
    try:
        async with asyncio.timeout(120):
            while not me.cancelled:
                await asyncio.sleep(0.5)
    finally:
        fake_api.stall = None
        await me.stop()
    (stopped,) = me.cancelled
    assert stopped < last + 15  # before a standby may take the Lease
