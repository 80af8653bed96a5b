"""Root cause of a failed rollout: which new pods are not ready, and why, in one line."""

import pytest

from rollout_operator.rootcause import explain, label_selector


def pod(name, image="app:v2", ready=False, created="2026-11-25T10:00:05Z", **status):
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {
            "phase": status.pop("phase", "Running"),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            **status,
        },
    }


def waiting(reason, message=None, last=None):
    state = {"name": "app", "state": {"waiting": {"reason": reason, "message": message}}}
    if last:
        state["lastState"] = {"terminated": last}
    return {"containerStatuses": [state]}


def unhealthy(pod_name, message, when="2026-11-25T10:00:30Z"):
    return {
        "involvedObject": {"kind": "Pod", "name": pod_name},
        "type": "Warning",
        "reason": "Unhealthy",
        "message": message,
        "lastTimestamp": when,
    }


IMAGES = {"app": "app:v2"}
SINCE = "2026-11-25T10:00:00Z"


@pytest.mark.parametrize(
    ("pods", "events", "expected"),
    [
        (
            [pod("web-1", **waiting("ImagePullBackOff", 'Back-off pulling image "app:v2"'))],
            [],
            'pod web-1: container "app": ImagePullBackOff: Back-off pulling image "app:v2"',
        ),
        (
            [
                pod(
                    "web-1",
                    **waiting("CrashLoopBackOff", "back-off", {"exitCode": 3, "reason": "Error"}),
                )
            ],
            [],
            'pod web-1: container "app": CrashLoopBackOff: last exit code 3 (Error)',
        ),
        (
            [pod("web-1")],
            [unhealthy("web-1", "Readiness probe failed: HTTP probe failed with statuscode: 500")],
            "pod web-1: Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 500",
        ),
        (
            [
                pod(
                    "web-1",
                    phase="Pending",
                    conditions=[
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "message": "0/3 nodes are available",
                        }
                    ],
                )
            ],
            [],
            "pod web-1: not scheduled: 0/3 nodes are available",
        ),
    ],
)
def test_each_kind_of_failure_is_worded(pods, events, expected):
    assert explain(pods, events, IMAGES, SINCE) == expected


def test_only_new_unready_pods_count_and_the_list_is_bounded():
    pods = [
        pod("old-ready", image="app:v1", ready=True),
        pod("old-unready", image="app:v1"),  # the previous revision: not the cause
        pod("stale", created="2026-11-25T09:00:00Z"),  # from before this rollout
        pod("fine", ready=True),
        *[pod(f"new-{i}", **waiting("ErrImagePull")) for i in range(5)],
    ]
    text = explain(pods, [], IMAGES, SINCE)
    assert text.startswith('pod new-0: container "app": ErrImagePull')
    for innocent in ("old-unready", "stale", "fine"):
        assert innocent not in text
    assert text.endswith("(and 2 more not-ready pods)")


def test_nothing_found_is_none():
    assert explain([pod("fine", ready=True)], [], IMAGES, SINCE) is None


def test_label_selector_from_match_labels_and_expressions():
    workload = {
        "spec": {
            "selector": {
                "matchLabels": {"app": "web", "tier": "front"},
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["a", "b"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                ],
            }
        }
    }
    assert label_selector(workload) == "app=web,tier=front,env in (a,b),!canary"
    assert label_selector({"spec": {}}) is None
