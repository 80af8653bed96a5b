"""Fault: the operator is killed (-9) at random moments while it works, then restarted.

Whatever was in flight (a workload patch without its status write, a status write without
its Event, a queued retry) is cut. The restarted operator must finish every request once:
nothing lost, nothing applied twice, every status true to its workload.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kubernetes import client

from .faults import (
    FaultReport,
    OperatorFactory,
    kill9,
    rounds,
    seeded_random,
)
from .faults_fleet import (
    Fleet,
    Score,
    TemplateRecorder,
    assert_clean,
    reported,
    template_of,
)
from .kube import Kubectl, wait_for


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


def hold_status_writes(kubectl: Kubectl, namespace: str) -> Callable[[], None]:
    """Make the apiserver refuse writes of Rollout status in `namespace` (an admission
    policy), so the operator's workload patch succeeds and its status write does not: the
    moment between the two, held open. Returns the function that lifts the hold."""
    name = f"e2e-faults-hold-status-{namespace[-6:]}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["rollout-operator.dev"],
                        "apiVersions": ["*"],
                        "operations": ["UPDATE"],
                        "resources": ["rollouts/status"],
                    }
                ]
            },
            "validations": [{"expression": "false", "message": "e2e: status writes held"}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
        },
    }
    document = {"apiVersion": "v1", "kind": "List", "items": [policy, binding]}
    kubectl.apply(document, namespace)

    def status_write_admitted() -> bool:
        probe = kubectl("patch", "rollout", "w0", "-n", namespace, "--subresource=status",
                        "--type=merge", "-p", '{"status":{}}', "--dry-run=server")  # fmt: skip
        return probe.returncode == 0

    wait_for(lambda: not status_write_admitted(), timeout=60, what="status writes refused")

    def lift() -> None:
        kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name,
                "--ignore-not-found")  # fmt: skip
        wait_for(status_write_admitted, timeout=60, what="status writes admitted again")

    return lift


def test_kill_9_between_workload_patch_and_status_write_leaves_a_true_status(
    operators: OperatorFactory, namespace: str, kubectl: Kubectl, apps_api: client.AppsV1Api,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    rng = seeded_random("kill -9 between the two writes")
    fleet = Fleet(namespace, 1, kubectl=kubectl, apps_api=apps_api, core_api=core_api,
                  custom_api=custom_api, rng=rng)  # fmt: skip
    fleet.create()
    operator = operators("faults-kill-between", "--namespace", namespace)
    operator.start()
    fleet.adopted()
    (name,) = fleet.targets
    lift = hold_status_writes(kubectl, namespace)
    try:
        fleet.request(name, "restart")
        target = fleet.targets[name]
        wait_for(
            lambda: (
                f"restartedAt={target.restarted_at}"
                in (template_of(apps_api.read_namespaced_deployment(name, namespace)).restart or "")
            ),
            timeout=60,
            what="the workload patch (the restart) applied",
        )
        kill9(operator)
    finally:
        lift()
    operator.start()
    _, verdicts = fleet.settle(timeout=120)
    assert verdicts[name].done, verdicts[name]
