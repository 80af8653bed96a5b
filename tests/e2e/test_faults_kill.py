"""Fault: the operator is killed (-9) at random moments while it works, then restarted.

Whatever was in flight (a workload patch without its status write, a status write without
its Event, a queued retry) is cut. The restarted operator must finish every request once:
nothing lost, nothing applied twice, every status true to its workload.
"""

from __future__ import annotations

import time

from kubernetes import client

from .faults import (
    FaultReport,
    Fleet,
    OperatorFactory,
    Score,
    TemplateRecorder,
    assert_clean,
    kill9,
    reported,
    rounds,
    seeded_random,
)
from .kube import Kubectl


def test_kill_9_mid_work_then_restart_loses_and_doubles_nothing(
    operators: OperatorFactory, namespace: str, kubectl: Kubectl, apps_api: client.AppsV1Api,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi, fault_report: FaultReport,
):  # fmt: skip
    rng = seeded_random("kill -9")
    fleet = Fleet(namespace, 6, kubectl=kubectl, apps_api=apps_api, core_api=core_api,
                  custom_api=custom_api, rng=rng)  # fmt: skip
    fleet.create()
    operator = operators("faults-kill", "--namespace", namespace)
    operator.start()
    fleet.adopted()
    scores: list[Score] = []
    notes = {"seed": str(rng.seed_value)}
    with (
        reported(fault_report, "1 kill -9 mid-work", scores, notes),
        TemplateRecorder(apps_api, namespace) as recorder,
    ):
        for _ in range(rounds(5)):
            fleet.begin_round()
            fleet.request_random(rng.randint(3, 8))
            # The fault lands at a random moment of the work, most often in its first
            # fraction of a second (the writes), else while the rollouts progress.
            time.sleep(rng.uniform(0.0, 0.3) if rng.random() < 0.6 else rng.uniform(0.3, 2.0))
            kill9(operator)
            if rng.random() < 0.5:  # and some requests arrive while no operator runs
                fleet.request_random(rng.randint(1, 3))
            operator.start()
            _, verdicts = fleet.settle()
            scores.append(fleet.score(verdicts, recorder))
    assert_clean(scores)
