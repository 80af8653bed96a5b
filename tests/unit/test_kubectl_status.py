"""kubectl's rollout-status judgement, case by case, with kubectl's own message strings.

Cases follow kubectl's rollout_status_test.go (k8s.io/kubectl/pkg/polymorphichelpers).
"""

from typing import Any

import pytest

from rollout_operator.kubectl_status import Verdict, rollout_status


def deployment(
    *, generation=1, observed=1, replicas=1, updated=1, current=1, available=1, conditions=()
) -> dict[str, Any]:
    return {
        "metadata": {"name": "foo", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "replicas": current,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": list(conditions),
        },
    }


@pytest.mark.parametrize(
    ("obj", "verdict", "message"),
    [
        (
            deployment(replicas=1, current=1, updated=0, available=1),
            Verdict.PROGRESSING,
            'Waiting for deployment "foo" rollout to finish: 0 out of 1 new replicas have been updated...',
        ),
        (
            deployment(replicas=1, current=2, updated=1, available=2),
            Verdict.PROGRESSING,
            'Waiting for deployment "foo" rollout to finish: 1 old replicas are pending termination...',
        ),
        (
            deployment(replicas=2, current=2, updated=2, available=1),
            Verdict.PROGRESSING,
            'Waiting for deployment "foo" rollout to finish: 1 of 2 updated replicas are available...',
        ),
        (
            deployment(replicas=2, current=2, updated=2, available=2),
            Verdict.DONE,
            'deployment "foo" successfully rolled out',
        ),
        (
            deployment(generation=2, observed=1, replicas=2, current=2, updated=2, available=2),
            Verdict.PROGRESSING,
            "Waiting for deployment spec update to be observed...",
        ),
        (
            deployment(
                replicas=3,
                updated=1,
                conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
            ),
            Verdict.FAILED,
            'deployment "foo" exceeded its progress deadline',
        ),
        (  # a deadline that passed before the new generation was observed does not count yet
            deployment(
                generation=3,
                observed=2,
                conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
            ),
            Verdict.PROGRESSING,
            "Waiting for deployment spec update to be observed...",
        ),
    ],
)
def test_deployment(obj, verdict, message):
    judgement = rollout_status("Deployment", obj)
    assert (judgement.verdict, judgement.message) == (verdict, message)


def daemonset(
    *, generation=1, observed=1, desired=1, updated=1, available=1, strategy="RollingUpdate"
):
    return {
        "metadata": {"name": "foo", "generation": generation},
        "spec": {"updateStrategy": {"type": strategy}},
        "status": {
            "observedGeneration": observed,
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
        },
    }


@pytest.mark.parametrize(
    ("obj", "verdict", "message"),
    [
        (
            daemonset(desired=1, updated=0, available=0),
            Verdict.PROGRESSING,
            'Waiting for daemon set "foo" rollout to finish: 0 out of 1 new pods have been updated...',
        ),
        (
            daemonset(desired=2, updated=2, available=1),
            Verdict.PROGRESSING,
            'Waiting for daemon set "foo" rollout to finish: 1 of 2 updated pods are available...',
        ),
        (
            daemonset(desired=2, updated=2, available=2),
            Verdict.DONE,
            'daemon set "foo" successfully rolled out',
        ),
        (
            daemonset(generation=2, observed=1),
            Verdict.PROGRESSING,
            "Waiting for daemon set spec update to be observed...",
        ),
        (
            daemonset(strategy="OnDelete"),
            Verdict.FAILED,
            "rollout status is only available for RollingUpdate strategy type",
        ),
    ],
)
def test_daemonset(obj, verdict, message):
    judgement = rollout_status("DaemonSet", obj)
    assert (judgement.verdict, judgement.message) == (verdict, message)


def statefulset(
    *, generation=1, observed=1, replicas=3, ready=3, updated=3, current=3,
    update_rev="foo-2", current_rev="foo-2", strategy="RollingUpdate", partition=None,
):  # fmt: skip
    update_strategy: dict[str, Any] = {"type": strategy}
    if partition is not None:
        update_strategy["rollingUpdate"] = {"partition": partition}
    return {
        "metadata": {"name": "foo", "generation": generation},
        "spec": {"replicas": replicas, "updateStrategy": update_strategy},
        "status": {
            "observedGeneration": observed,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "currentReplicas": current,
            "updateRevision": update_rev,
            "currentRevision": current_rev,
        },
    }


@pytest.mark.parametrize(
    ("obj", "verdict", "message"),
    [
        (
            statefulset(observed=0),
            Verdict.PROGRESSING,
            "Waiting for statefulset spec update to be observed...",
        ),
        (
            statefulset(generation=2, observed=1),
            Verdict.PROGRESSING,
            "Waiting for statefulset spec update to be observed...",
        ),
        (statefulset(ready=1), Verdict.PROGRESSING, "Waiting for 2 pods to be ready..."),
        (
            statefulset(partition=1, updated=1),
            Verdict.PROGRESSING,
            "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
        ),
        (
            statefulset(partition=0, updated=3),
            Verdict.DONE,
            "partitioned roll out complete: 3 new pods have been updated...",
        ),
        (
            statefulset(updated=1, update_rev="foo-2", current_rev="foo-1"),
            Verdict.PROGRESSING,
            "waiting for statefulset rolling update to complete 1 pods at revision foo-2...",
        ),
        (
            statefulset(current=3),
            Verdict.DONE,
            "statefulset rolling update complete 3 pods at revision foo-2...",
        ),
        (
            statefulset(strategy="OnDelete"),
            Verdict.FAILED,
            "rollout status is only available for RollingUpdate strategy type",
        ),
    ],
)
def test_statefulset(obj, verdict, message):
    judgement = rollout_status("StatefulSet", obj)
    assert (judgement.verdict, judgement.message) == (verdict, message)
