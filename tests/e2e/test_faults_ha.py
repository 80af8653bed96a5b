"""Fault: the active replica of an HA pair (--leader-elect) fails mid-rollout.

Rounds alternate two failures of the replica holding the Lease:
- kill -9: the standby takes over once the Lease expires (failover time reported);
- SIGSTOP past the Lease duration, then SIGCONT: the other replica takes over, and the one
  that wakes up holds a cache from its active period and possibly queued work. It must
  step down without writing anything from that stale state.
So from the second round on, the replica taking over has been active before: it must act
on fresh lists, not on what it remembers. Each Deployment's template must change once per
requested change and never back to an earlier image or restart value.
"""

from __future__ import annotations

import os
import secrets
import time

from kubernetes import client

from .faults import (
    FaultReport,
    OperatorFactory,
    frozen,
    kill9,
    rounds,
    seconds,
    seeded_random,
)
from .faults_fleet import (
    Fleet,
    Score,
    TemplateRecorder,
    assert_clean,
    reported,
)
from .kube import Kubectl, wait_for
from .operator_process import OperatorProcess, grant_leases, metric

LEASE_DURATION = float(os.environ.get("E2E_FAULT_LEASE_DURATION") or 5)


def holder(kubectl: Kubectl, namespace: str, lease: str) -> str:
    got = kubectl("get", "lease", lease, "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}")
    return got.stdout.strip() if got.returncode == 0 else ""


def leading(replica: OperatorProcess) -> bool:
    """The replica's own view (rollout_operator_leader)."""
    return metric(replica.metrics(), "rollout_operator_leader") == 1


def test_active_replica_failing_mid_rollout_hands_over_without_stale_writes(
    operators: OperatorFactory, namespace: str, kubectl: Kubectl, apps_api: client.AppsV1Api,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi, fault_report: FaultReport,
):  # fmt: skip
    rng = seeded_random("HA")
    grant_leases(kubectl, namespace)
    lease = f"faults-ha-{secrets.token_hex(3)}"
    args = ["--namespace", namespace, "--leader-elect", "--leader-election-id", lease,
            "--leader-election-namespace", namespace, "--lease-duration", f"{LEASE_DURATION:g}"]  # fmt: skip
    replicas = {name: operators(name, *args) for name in (f"{lease}-a", f"{lease}-b")}
    fleet = Fleet(namespace, 5, kubectl=kubectl, apps_api=apps_api, core_api=core_api,
                  custom_api=custom_api, rng=rng)  # fmt: skip
    fleet.create()
    for replica in replicas.values():
        replica.start()
    fleet.adopted()
    scores: list[Score] = []
    failovers: list[float] = []
    takeovers: list[float] = []
    notes = {"seed": str(rng.seed_value)}

    def wait_holder(name: str) -> None:
        wait_for(lambda: holder(kubectl, namespace, lease) == name, timeout=120, interval=0.1,
                 what=f"{name} taking over")  # fmt: skip

    with (
        reported(fault_report, "4 HA: active replica fails", scores, notes),
        TemplateRecorder(apps_api, namespace) as recorder,
    ):
        for n in range(rounds(3)):
            active = wait_for(
                lambda: (
                    holder(kubectl, namespace, lease) in replicas
                    and holder(kubectl, namespace, lease)
                ),
                timeout=60,
                what="a replica holding the Lease",
            )
            standby = next(name for name in replicas if name != active)
            fleet.begin_round()
            fleet.request_random(rng.randint(3, 6))
            kill = n % 2 == 0
            # Mid-rollout; a freeze lands early so that work is still queued when it does.
            time.sleep(rng.uniform(0.0, 1.0) if kill else rng.uniform(0.0, 0.2))
            failed_at = time.monotonic()
            if kill:
                kill9(replicas[active])
                fleet.request_random(rng.randint(1, 3))  # while no replica acts
                wait_holder(standby)
                failovers.append(time.monotonic() - failed_at)
                replicas[active].start()  # back, as the standby
            else:
                with frozen(replicas[active]):
                    fleet.request_random(rng.randint(1, 3))
                    wait_holder(standby)
                    takeovers.append(time.monotonic() - failed_at)
                    fleet.request_random(rng.randint(1, 3))  # acted on by the new leader...
                    fleet.settle()
                # ...while the frozen one still remembers the old state. Judge after it has
                # noticed that it lost the Lease (a positive barrier for its stale writes).
                wait_for(lambda active=active: not leading(replicas[active]), timeout=60,
                         what=f"{active} stepping down")  # fmt: skip
            _, verdicts = fleet.settle()
            scores.append(fleet.score(verdicts, recorder))
            notes[f"failover after kill -9 s (Lease {LEASE_DURATION:g}s)"] = seconds(failovers)
            notes["takeover after SIGSTOP s"] = seconds(takeovers)
    assert_clean(scores)
