"""Fault: kube-apiserver and etcd restart while Rollouts are changing.

Requests are made just before the component goes down (the operator may or may not have
acted on them) and just after it is back. Every watch breaks; after a restarted apiserver or
etcd the watch caches start over, so resumed watches may get 410 and must list again.
Reported, not asserted: the time from the apiserver being back to every Rollout correct
(recovery), and when the operator's /readyz turned unready during the outage.
"""

from __future__ import annotations

import os
import time

from kubernetes import client

from .faults import (
    FaultReport,
    LocalCluster,
    OperatorFactory,
    ReadinessLog,
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
from .kube import Kubectl

#: Outage lengths (seconds): issue 10 asks for ~20 s restarts and a 30 s outage measured.
APISERVER_DOWN = float(os.environ.get("E2E_FAULT_APISERVER_DOWN") or 20)
RECOVERY_OUTAGE = 30.0
ETCD_DOWN = float(os.environ.get("E2E_FAULT_ETCD_DOWN") or 10)


def _fleet(namespace: str, rng, kubectl, apps_api, core_api, custom_api) -> Fleet:
    fleet = Fleet(namespace, 5, kubectl=kubectl, apps_api=apps_api, core_api=core_api,
                  custom_api=custom_api, rng=rng)  # fmt: skip
    fleet.create()
    return fleet


def _outage_round(
    fleet: Fleet, cluster: LocalCluster, component: str, down: float, recorder: TemplateRecorder,
    readiness: ReadinessLog,
) -> tuple[Score, float, float | None]:  # fmt: skip
    """Requests, the component down for `down` s, requests again once it is back.

    Returns the score, the recovery time (apiserver ready again -> every Rollout right) and
    how long into the outage the operator's /readyz first failed (None: it never did).
    """
    fleet.begin_round()
    fleet.request_random(fleet.rng.randint(3, 6))
    time.sleep(fleet.rng.uniform(0.0, 1.0))
    cluster.stop(component)
    stopped = time.monotonic()
    time.sleep(down)
    cluster.start(component)
    cluster.wait_apiserver_ready()
    back = time.monotonic()
    fleet.request_random(fleet.rng.randint(2, 4))
    recovery, verdicts = fleet.settle(timeout=300)
    return fleet.score(verdicts, recorder), recovery, readiness.unready_after(stopped, back)


def test_apiserver_restarts_while_rollouts_change(
    local_cluster: LocalCluster, operators: OperatorFactory, namespace: str, kubectl: Kubectl,
    apps_api: client.AppsV1Api, core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
    fault_report: FaultReport,
):  # fmt: skip
    rng = seeded_random("apiserver restart")
    fleet = _fleet(namespace, rng, kubectl, apps_api, core_api, custom_api)
    operator = operators("faults-apiserver", "--namespace", namespace)
    operator.start()
    fleet.adopted()
    scores: list[Score] = []
    restarts: list[float] = []
    recoveries: list[float] = []
    unready: list[str] = []
    notes = {"seed": str(rng.seed_value)}
    with (
        reported(fault_report, "2a kube-apiserver restart", scores, notes),
        TemplateRecorder(apps_api, namespace) as recorder,
        ReadinessLog(operator) as readiness,
    ):
        # Restarts of ~20 s; the last round is the 30 s outage whose recovery is reported.
        for n in range(rounds(2)):
            down = RECOVERY_OUTAGE if n == rounds(2) - 1 else APISERVER_DOWN
            score, recovery, unready_at = _outage_round(
                fleet, local_cluster, "kube-apiserver", down, recorder, readiness
            )
            scores.append(score)
            (recoveries if down == RECOVERY_OUTAGE else restarts).append(recovery)
            unready.append(f"{unready_at:.0f}s" if unready_at is not None else "never")
            notes["recovery after 30s outage s"] = seconds(recoveries)
            if restarts:
                notes[f"recovery after {APISERVER_DOWN:g}s down s"] = seconds(restarts)
            notes["/readyz failed into the outage after"] = ", ".join(unready)
    assert_clean(scores)


def test_etcd_restart_while_rollouts_change(
    local_cluster: LocalCluster, operators: OperatorFactory, namespace: str, kubectl: Kubectl,
    apps_api: client.AppsV1Api, core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
    fault_report: FaultReport,
):  # fmt: skip
    rng = seeded_random("etcd restart")
    fleet = _fleet(namespace, rng, kubectl, apps_api, core_api, custom_api)
    operator = operators("faults-etcd", "--namespace", namespace)
    operator.start()
    fleet.adopted()
    scores: list[Score] = []
    recoveries: list[float] = []
    notes = {"seed": str(rng.seed_value)}
    with (
        reported(fault_report, "2b etcd restart", scores, notes),
        TemplateRecorder(apps_api, namespace) as recorder,
        ReadinessLog(operator) as readiness,
    ):
        for _ in range(rounds(1)):
            score, recovery, _ = _outage_round(
                fleet, local_cluster, "etcd", ETCD_DOWN, recorder, readiness
            )
            scores.append(score)
            recoveries.append(recovery)
            notes[f"recovery after {ETCD_DOWN:g}s down s"] = seconds(recoveries)
    assert_clean(scores)
