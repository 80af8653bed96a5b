"""Runtime active periods against the in-memory apiserver (FakeApi) on a fake clock.

The whole shell runs: the Runtime, real Informers (list, then watch from the fake's change
log), the Controller and its work queue, and with --leader-elect the LeaderElector on a
Lease in the same fake. What the operator did is read from the requests the fake received;
"nothing happened" is only asserted after a barrier shows the operator was running and had
been told (its watches delivered the change, its elector kept asking for the Lease).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from conftest import FakeApi, Request
from test_controller import deployment, rollout, rollout_path, status_path, tag

from rollout_operator import paths
from rollout_operator.controller import Controller, ControllerSettings
from rollout_operator.leader import LeaseConfig
from rollout_operator.runtime import Runtime, RuntimeSettings
from rollout_operator.serving import State, _app_health
from rollout_operator.store import RolloutKey

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.looptime(idle_timeout=1),
    pytest.mark.usefixtures("loop_clock"),
]

NS = "ns"
WEB = paths.workload("Deployment", NS, "web")
ROLLOUTS = paths.rollouts(None)
DEPLOYMENTS = paths.workloads("Deployment", None)
CONFIG_MAPS = paths.configs("ConfigMap", None)
LEASE = LeaseConfig("ops", "rollout-operator", "me", duration=15, renew_deadline=10, retry=2)
LEASE_PATH = paths.lease("ops", "rollout-operator")


def image(api: FakeApi, path: str = WEB) -> str:
    found: str = api.objects[path]["spec"]["template"]["spec"]["containers"][0]["image"]
    return found


def version(api: FakeApi, path: str) -> str:
    found: str = api.objects[path]["metadata"]["resourceVersion"]
    return found


async def until(condition: Callable[[], bool], within: float = 300) -> None:
    """Wait in loop time (fake, so instant) until `condition` holds."""
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.1)


async def readyz(state: State) -> tuple[int, str]:
    """What GET /readyz answers (the real handler, without a socket)."""
    app = _app_health(state)
    request = make_mocked_request("GET", "/readyz", app=app)
    match = await app.router.resolve(request)
    response = await match.handler(request)
    return response.status, str(response.text).strip()


class Operator:
    """One operator process: Runtime.run() as a task, and the State its probes read."""

    def __init__(self, api: FakeApi, leader: LeaseConfig | None = None) -> None:
        self.api = api
        self.state = State(api)  # type: ignore[arg-type]
        settings = RuntimeSettings(controller=ControllerSettings(workers=2), leader=leader)
        self.runtime = Runtime(api, settings, self.state)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.runtime.run())

    @property
    def controller(self) -> Controller | None:
        return self.runtime.controller

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def since(api: FakeApi, mark: int) -> list[Request]:
    return api.requests[mark:]


def writes(requests: list[Request]) -> list[tuple[str, str]]:
    return [(r.verb, r.path) for r in requests if r.verb in ("patch", "create", "update")]


@pytest.fixture
def reconciled(monkeypatch: pytest.MonkeyPatch) -> Counter[RolloutKey]:
    """How many times each Rollout was reconciled (the real reconcile still runs)."""
    counts: Counter[RolloutKey] = Counter()
    real = Controller.reconcile

    async def counting(self: Controller, key: RolloutKey) -> float | None:
        counts[key] += 1
        return await real(self, key)

    monkeypatch.setattr(Controller, "reconcile", counting)
    return counts


async def test_nothing_reconciles_before_every_first_list_is_complete(fake_api):
    fake_api.put(rollout_path(), rollout(containers=tag("v2")))
    fake_api.put(WEB, deployment())
    gate = fake_api.gates[CONFIG_MAPS] = asyncio.Event()  # the ConfigMap list is slow
    operator = Operator(fake_api)
    await until(
        lambda: (
            fake_api.open_watches() == 4  # Rollouts and the three workload kinds listed
            and ("list", CONFIG_MAPS) in fake_api.calls
        )
    )
    assert operator.controller is not None
    assert (NS, "web") in operator.controller.store.rollouts  # barrier: it knows the work
    await asyncio.sleep(60)
    assert [r.verb for r in fake_api.requests if r.verb not in ("list", "watch")] == []
    assert await readyz(operator.state) == (
        503,
        "caches are being filled (initial lists not complete)",
    )
    gate.set()
    await until(lambda: image(fake_api) == "app:v2")
    assert await readyz(operator.state) == (200, "ok (acting)")
    await operator.stop()


async def test_the_watch_echo_of_our_own_writes_does_not_reconcile_again(fake_api, reconciled):
    fake_api.put(rollout_path(), rollout(containers=tag("v2")))
    fake_api.put(WEB, deployment())
    operator = Operator(fake_api)
    await until(lambda: "status" in fake_api.objects[rollout_path()])
    wrote = {ROLLOUTS: version(fake_api, rollout_path()), DEPLOYMENTS: version(fake_api, WEB)}
    # barrier: both watches delivered (and the handler took) the echoes of both writes
    await until(lambda: all(fake_api.delivered.get(c, 0) >= int(v) for c, v in wrote.items()))
    await asyncio.sleep(30)
    assert reconciled[(NS, "web")] == 1
    body = fake_api.objects[WEB]
    body["status"]["observedGeneration"] = body["metadata"]["generation"]
    fake_api.put(WEB, body)  # the Deployment controller saw the new template: news
    await until(lambda: reconciled[(NS, "web")] == 2)
    await operator.stop()


@pytest.mark.parametrize("g2_created", ["in-the-gap", "before-the-gap"])
async def test_a_watch_gap_sweeps_the_deleted_rollout_and_the_next_one_takes_over(
    fake_api, g2_created
):
    g2 = rollout("g2", containers=tag("v3"), created="2025-12-02T00:00:00Z")
    fake_api.put(rollout_path("g1"), rollout("g1", containers=tag("v2")))
    fake_api.put(WEB, deployment())
    if g2_created == "before-the-gap":
        fake_api.put(rollout_path("g2"), g2)
    operator = Operator(fake_api)
    await until(lambda: image(fake_api) == "app:v2")
    if g2_created == "before-the-gap":
        await until(lambda: "status" in fake_api.objects[rollout_path("g2")])
        assert fake_api.objects[rollout_path("g2")]["status"]["reason"] == "TargetClaimed"
    with fake_api.unwatched():  # the apiserver was unreachable meanwhile
        fake_api.remove(rollout_path("g1"))
        if g2_created == "in-the-gap":
            fake_api.put(rollout_path("g2"), g2)
    mark = len(fake_api.requests)
    await until(lambda: image(fake_api) == "app:v3")
    assert fake_api.objects[rollout_path("g2")]["status"]["phase"] == "Progressing"
    assert not [r for r in since(fake_api, mark) if "g1" in r.path]
    assert operator.controller is not None
    assert set(operator.controller.store.rollouts) == {(NS, "g2")}
    await operator.stop()


async def test_a_config_map_deleted_in_a_watch_gap_blocks_its_rollout(fake_api):
    fake_api.put(rollout_path(), rollout(config_maps=["agent"]))
    fake_api.put(WEB, deployment())
    agent = paths.config("ConfigMap", NS, "agent")
    fake_api.put(agent, {"kind": "ConfigMap", "metadata": {"name": "agent", "namespace": NS}})
    operator = Operator(fake_api)
    await until(lambda: fake_api.objects[rollout_path()].get("status", {}).get("configs"))
    with fake_api.unwatched():
        fake_api.remove(agent)
    await until(lambda: fake_api.objects[rollout_path()]["status"]["reason"] == "ConfigNotFound")
    await operator.stop()


def held_by(api: FakeApi, holder: str | None, renewed: str) -> None:
    """Another replica writes the Lease (or releases it: holder None)."""
    body: dict[str, Any] = api.objects[LEASE_PATH]
    body["spec"] = {**body["spec"], "holderIdentity": holder, "renewTime": renewed}
    api.put(LEASE_PATH, body)


async def test_an_active_period_ends_with_leadership_and_the_next_starts_from_fresh_lists(
    fake_api,
):
    fake_api.put(rollout_path(), rollout(containers=tag("v2")))
    fake_api.put(rollout_path("gone"), rollout("gone", target="gone"))
    fake_api.put(WEB, deployment())
    fake_api.put(paths.workload("Deployment", NS, "gone"), deployment("gone"))
    operator = Operator(fake_api, leader=LEASE)
    await until(lambda: image(fake_api) == "app:v2")
    first = operator.controller
    assert first is not None
    workers = list(first.queue._tasks)
    assert workers
    assert await readyz(operator.state) == (200, "ok (acting)")

    # Another replica takes the Lease over (ours lapsed during a pause) and keeps it.
    renewals = 0

    async def other_replica() -> None:
        nonlocal renewals
        while True:
            renewals += 1
            held_by(fake_api, "other", f"renewal {renewals}")
            await asyncio.sleep(2)

    other = asyncio.create_task(other_replica())
    await until(lambda: operator.controller is None)
    assert all(worker.done() for worker in workers)  # the queue stopped
    assert operator.runtime.rollouts() == []  # the store is gone with the period
    assert fake_api.open_watches() == 0
    assert not operator.state.synced()
    assert await readyz(operator.state) == (200, "ok (standby)")

    # Standby: the cluster changes; nothing acts on it.
    mark = len(fake_api.requests)
    changed = rollout(containers=tag("v3"))
    changed["metadata"]["generation"] = 2
    changed["status"] = fake_api.objects[rollout_path()]["status"]
    fake_api.put(rollout_path(), changed)
    fake_api.remove(rollout_path("gone"))
    relabelled = fake_api.objects[WEB]
    relabelled["metadata"]["labels"]["edited"] = "while-standby"
    fake_api.put(WEB, relabelled)
    await asyncio.sleep(30)
    asked = [r for r in since(fake_api, mark) if r.path == LEASE_PATH]
    assert len(asked) >= 10  # barrier: the standby kept trying for the Lease all along
    assert [r for r in since(fake_api, mark) if r.path != LEASE_PATH] == []

    # The other replica stops cleanly and releases the Lease: we take over, and act only
    # once this period's lists are complete (the ConfigMap list is slow this time).
    gate = fake_api.gates[CONFIG_MAPS] = asyncio.Event()
    other.cancel()
    held_by(fake_api, None, "released")
    mark = len(fake_api.requests)
    fresh = version(fake_api, WEB)
    await until(
        lambda: (
            fake_api.open_watches() == 4
            and any((r.verb, r.path) == ("list", CONFIG_MAPS) for r in since(fake_api, mark))
        )
    )
    assert operator.controller is not None
    assert (NS, "web") in operator.controller.store.rollouts  # barrier: it knows the work
    await asyncio.sleep(30)
    acted = [r for r in since(fake_api, mark) if r.verb not in ("list", "watch")]
    assert [r for r in acted if r.path != LEASE_PATH] == []
    gate.set()
    await until(lambda: image(fake_api) == "app:v3")
    second = operator.controller
    assert second is not None
    assert second is not first
    assert second.store is not first.store
    period = since(fake_api, mark)
    listed = {r.path for r in period if r.verb == "list"}
    assert {ROLLOUTS, DEPLOYMENTS, CONFIG_MAPS} <= listed  # fresh lists before acting
    first_write = next(i for i, r in enumerate(period) if r.verb == "patch")
    assert {r.path for r in period[:first_write] if r.verb == "list"} == listed
    (patch,) = [r for r in period if (r.verb, r.path) == ("patch", WEB)]
    assert patch.body["metadata"]["resourceVersion"] == fresh  # not the first period's copy
    assert set(second.store.rollouts) == {(NS, "web")}  # nothing of the first period survives
    assert set(second.store.workloads) == {(NS, "Deployment", "web")}
    assert not [r for r in period if "gone" in r.path]
    assert writes(period).count(("patch", status_path())) >= 1
    await operator.stop()
