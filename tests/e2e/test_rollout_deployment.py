"""The Rollout on Deployments: set image, progress as kubectl reports it, status, events."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, watch

from .kube import Kubectl, all_pods_run, make_deployment, wait_for
from .operator_process import OperatorProcess, metric
from .rollouts import (
    GROUP,
    PLURAL,
    VERSION,
    condition,
    get_rollout,
    make_rollout,
    wait_event,
    wait_phase,
)

REPO = "registry.local:5000/team/server"


@pytest.mark.compat
def test_set_image_rolls_out_and_reports_like_kubectl(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, apps_api: client.AppsV1Api,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(make_deployment("server", f"{REPO}:v1"), namespace)
    assert (
        kubectl(
            "rollout", "status", "deployment/server", "-n", namespace, "--timeout=60s"
        ).returncode
        == 0
    )

    # Collect every message the operator publishes while the rollout runs.
    messages: list[str] = []

    def follow() -> None:
        stream = watch.Watch()
        for event in stream.stream(
            custom_api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            timeout_seconds=60,
        ):
            message = (event["object"].get("status") or {}).get("message")
            if message and (not messages or messages[-1] != message):
                messages.append(message)
            if message == 'deployment "server" successfully rolled out':
                stream.stop()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    kubectl.apply(
        make_rollout("server", "server", containers=[{"name": "app", "tag": "3f2c1ab"}]), namespace
    )
    # `kubectl wait` on Ready returns only once the *current* spec has rolled out.
    waited = kubectl(
        "wait", "--for=condition=Ready", "rollout/server", "-n", namespace, "--timeout=90s"
    )
    assert waited.returncode == 0, waited.stderr
    done = kubectl("rollout", "status", "deployment/server", "-n", namespace, "--timeout=5s")
    assert done.stdout.strip() == 'deployment "server" successfully rolled out'
    assert wait_for(
        lambda: all_pods_run(core_api, namespace, "app=server", [f"{REPO}:3f2c1ab"]), timeout=30
    )

    rollout = get_rollout(custom_api, namespace, "server")
    status = rollout["status"]
    assert status["phase"] == "Succeeded"
    assert status["message"] == 'deployment "server" successfully rolled out'
    assert status["images"] == [{"container": "app", "image": f"{REPO}:3f2c1ab"}]
    assert status["ready"] == "3/3/3"  # up-to-date/available/desired
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert status["startedAt"] <= status["completedAt"]
    assert condition(rollout, "Ready")["observedGeneration"] == rollout["metadata"]["generation"]
    assert condition(rollout, "Stalled")["status"] == "False"
    follower.join(timeout=70)
    assert messages[-1] == 'deployment "server" successfully rolled out'
    # Progress-only writes are coalesced (--status-interval): at least the start is shown.
    assert messages[0].startswith("Waiting for deployment"), messages
    allowed = ("Waiting for deployment", 'deployment "server" successfully rolled out')
    assert all(m.startswith(allowed) for m in messages), messages

    reasons = [reason for reason, _ in wait_event(core_api, namespace, "server", "ImageUpdated")]
    assert reasons == ["ImageUpdated"]  # one Event when it starts; success is in the status
    latest = status["history"][0]
    assert (latest["revision"], latest["trigger"], latest["result"]) == (2, "Image", "Succeeded")
    assert latest["changeCause"].startswith("set image app: ")
    assert status["imageSummary"] == "app=server:3f2c1ab"

    # Footprint: our field manager owns the image (and nothing of kopf's lands on the workload).
    deployment = apps_api.read_namespaced_deployment("server", namespace)
    assert not [k for k in (deployment.metadata.annotations or {}) if "kopf" in k]
    managers = {m.manager for m in deployment.metadata.managed_fields}
    assert "rollout-operator" in managers
    printed = kubectl("get", "rollouts", "-n", namespace)
    assert "Deployment/server" in printed.stdout
    assert "Succeeded" in printed.stdout
    assert "app=server:3f2c1ab" in printed.stdout  # every container, shortened

    metrics = operator.metrics()
    assert 'rollout_operator_image_updates_total{kind="Deployment"}' in metrics
    assert "rollout_operator_api_request_duration_seconds_bucket" in metrics
    assert 'rollout_operator_rollouts{phase="Succeeded"}' in metrics


def test_equal_image_makes_no_write(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, apps_api: client.AppsV1Api,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(make_deployment("web", f"{REPO}:v1"), namespace)
    before = apps_api.read_namespaced_deployment("web", namespace)
    kubectl.apply(
        make_rollout("web", "web", containers=[{"name": "app", "image": f"{REPO}:v1"}]), namespace
    )
    wait_phase(custom_api, namespace, "web", "Succeeded")
    after = apps_api.read_namespaced_deployment("web", namespace)
    assert after.metadata.generation == before.metadata.generation
    assert "rollout-operator" not in {m.manager for m in after.metadata.managed_fields}
    # Nothing changes on its own afterwards either: the Rollout is not rewritten.
    version = get_rollout(custom_api, namespace, "web")["metadata"]["resourceVersion"]
    kubectl("annotate", "deployment/web", "-n", namespace, "unrelated=touch")
    wait_for(
        lambda: apps_api.read_namespaced_deployment("web", namespace).metadata.annotations.get(
            "unrelated"
        ),
        timeout=10,
    )
    assert get_rollout(custom_api, namespace, "web")["metadata"]["resourceVersion"] == version


@pytest.mark.compat
def test_broken_image_fails_with_progress_deadline(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, custom_api: client.CustomObjectsApi,
    core_api: client.CoreV1Api,
):  # fmt: skip
    kubectl.apply(make_deployment("server", f"{REPO}:v1", progress_deadline_seconds=8), namespace)
    kubectl.apply(
        make_rollout("server", "server", containers=[{"name": "app", "tag": "v2-broken"}]),
        namespace,
    )
    rollout = wait_phase(custom_api, namespace, "server", "Failed", timeout=120)
    assert rollout["status"]["message"] == 'deployment "server" exceeded its progress deadline'
    assert condition(rollout, "Stalled")["reason"] == "ProgressDeadlineExceeded"
    assert condition(rollout, "Ready")["status"] == "False"
    events = wait_event(core_api, namespace, "server", "ProgressDeadlineExceeded")
    assert (
        "ProgressDeadlineExceeded",
        'deployment "server" exceeded its progress deadline',
    ) in events
    # kubectl agrees.
    result = kubectl("rollout", "status", "deployment/server", "-n", namespace, "--timeout=10s")
    assert result.returncode != 0
    assert "exceeded its progress deadline" in result.stderr
    # The shipped RolloutFailed alert (monitoring/prometheusrule.yaml) selects
    # rollout_operator_rollout_status{phase="Failed"} on the acting replica
    # (rollout_operator_leader 1): both are 1 for this Rollout while it is Failed.
    text = operator.metrics()
    failed = {"namespace": namespace, "name": "server"}
    assert metric(text, "rollout_operator_rollout_status", phase="Failed", **failed) == 1, text
    assert metric(text, "rollout_operator_rollout_status", phase="Succeeded", **failed) == 0
    assert metric(text, "rollout_operator_leader") == 1

    # Fixing the tag recovers: a new generation, judged afresh.
    kubectl.apply(
        make_rollout("server", "server", containers=[{"name": "app", "tag": "v3"}]), namespace
    )
    rollout = wait_phase(custom_api, namespace, "server", "Succeeded", timeout=120)
    assert condition(rollout, "Ready")["status"] == "True"
    text = operator.metrics()  # the alert resolves
    assert metric(text, "rollout_operator_rollout_status", phase="Failed", **failed) == 0, text
    assert metric(text, "rollout_operator_rollout_status", phase="Succeeded", **failed) == 1
