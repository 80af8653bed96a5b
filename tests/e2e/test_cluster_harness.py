"""Proof that the local cluster behaves like a real one for rollouts.

These drive the real kubectl as a user would. They rely on the kwok stages of
tests/cluster/cluster.sh: pods become Ready after a delay, and images whose tag
ends in "-broken" never do.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from .kube import (
    CONTAINER,
    Kubectl,
    Observed,
    all_pods_run,
    make_daemonset,
    make_deployment,
    make_statefulset,
    wait_for,
)

pytestmark = pytest.mark.e2e

V1 = "registry.local/e2e/app:v1"
V2 = "registry.local/e2e/app:v2"
BROKEN = "registry.local/e2e/app:v2-broken"
ROLLOUT_TIMEOUT = "120s"


def rollout_status(kubectl: Kubectl, namespace: str, ref: str, timeout: str = ROLLOUT_TIMEOUT):
    return kubectl("rollout", "status", ref, "-n", namespace, f"--timeout={timeout}", timeout=300)


def set_image(kubectl: Kubectl, namespace: str, ref: str, image: str) -> None:
    result = kubectl("set", "image", ref, f"{CONTAINER}={image}", "-n", namespace)
    assert result.returncode == 0, result.stderr


def test_nodes_are_ready_and_untainted(core_api):
    nodes = core_api.list_node().items
    ready = [
        n.metadata.name
        for n in nodes
        if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
    ]
    assert ready, "no Ready node"
    if not os.environ.get("E2E_KUBECONFIG"):
        assert len(ready) == int(os.environ.get("CLUSTER_NODES", "3"))
        assert all(not n.spec.taints for n in nodes)


def test_local_cluster_version(kubectl):
    if os.environ.get("E2E_KUBECONFIG"):
        pytest.skip("checks the locally built binaries")
    result = kubectl("version", "-o", "json", check=True)
    versions = json.loads(result.stdout)
    assert versions["clientVersion"]["gitVersion"] == versions["serverVersion"]["gitVersion"]
    assert versions["serverVersion"]["gitVersion"].startswith("v1.")


def test_deployment_becomes_available(kubectl, apps_api, namespace):
    kubectl.apply(make_deployment("web", V1, replicas=3), namespace)

    def available():
        status = apps_api.read_namespaced_deployment_status("web", namespace).status
        return Observed(status.available_replicas == 3 and status.ready_replicas == 3, status)

    wait_for(available, timeout=60, what="3 available replicas")


def test_set_image_rolls_out(kubectl, apps_api, core_api, namespace):
    kubectl.apply(make_deployment("web", V1, replicas=3), namespace)
    assert rollout_status(kubectl, namespace, "deployment/web").returncode == 0

    started = time.monotonic()
    set_image(kubectl, namespace, "deployment/web", V2)
    result = rollout_status(kubectl, namespace, "deployment/web")
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert 'deployment "web" successfully rolled out' in result.stdout
    # The new pods take time to become Ready, so kubectl saw the rollout progress.
    assert "Waiting for deployment" in result.stdout, (result.stdout, elapsed)
    status = apps_api.read_namespaced_deployment_status("web", namespace).status
    assert (status.updated_replicas, status.available_replicas) == (3, 3)
    wait_for(lambda: all_pods_run(core_api, namespace, "app=web", [V2]), timeout=60)


def test_broken_image_exceeds_progress_deadline(kubectl, apps_api, core_api, namespace):
    kubectl.apply(make_deployment("web", V1, replicas=3, progress_deadline_seconds=10), namespace)
    assert rollout_status(kubectl, namespace, "deployment/web").returncode == 0

    set_image(kubectl, namespace, "deployment/web", BROKEN)
    result = rollout_status(kubectl, namespace, "deployment/web")

    assert result.returncode != 0
    assert "exceeded its progress deadline" in result.stderr, (result.stdout, result.stderr)
    deployment = apps_api.read_namespaced_deployment_status("web", namespace)
    conditions = {c.type: c for c in deployment.status.conditions}
    assert conditions["Progressing"].reason == "ProgressDeadlineExceeded"
    # maxUnavailable 0: the old pods keep serving while the broken one is stuck.
    assert deployment.status.available_replicas == 3
    broken = [
        pod
        for pod in core_api.list_namespaced_pod(namespace, label_selector="app=web").items
        if pod.spec.containers[0].image == BROKEN
    ]
    assert broken, "no pod of the broken release"
    for pod in broken:
        ready = {c.type: c.status for c in pod.status.conditions or []}
        assert pod.status.phase == "Running"
        assert ready.get("Ready") == "False"


def test_statefulset_rolls_out(kubectl, apps_api, core_api, namespace):
    kubectl.apply(make_statefulset("db", V1, replicas=3), namespace)
    assert rollout_status(kubectl, namespace, "statefulset/db").returncode == 0

    set_image(kubectl, namespace, "statefulset/db", V2)
    result = rollout_status(kubectl, namespace, "statefulset/db")

    assert result.returncode == 0, result.stderr
    status = apps_api.read_namespaced_stateful_set_status("db", namespace).status
    assert status.update_revision == status.current_revision
    assert (status.updated_replicas, status.ready_replicas) == (3, 3)
    wait_for(lambda: all_pods_run(core_api, namespace, "app=db", [V2]), timeout=60)


def test_daemonset_rolls_out(kubectl, apps_api, core_api, namespace):
    kubectl.apply(make_daemonset("agent", V1), namespace)

    def scheduled():
        status = apps_api.read_namespaced_daemon_set_status("agent", namespace).status
        return Observed(status.desired_number_scheduled > 0, status)

    wait_for(scheduled, timeout=60, what="DaemonSet pods scheduled on the nodes")
    assert rollout_status(kubectl, namespace, "daemonset/agent").returncode == 0

    set_image(kubectl, namespace, "daemonset/agent", V2)
    result = rollout_status(kubectl, namespace, "daemonset/agent")

    assert result.returncode == 0, result.stderr
    status = apps_api.read_namespaced_daemon_set_status("agent", namespace).status
    assert status.updated_number_scheduled == status.desired_number_scheduled
    assert status.number_available == status.desired_number_scheduled
    wait_for(lambda: all_pods_run(core_api, namespace, "app=agent", [V2]), timeout=60)


def test_pod_graceful_delete_completes(kubectl, core_api, namespace):
    kubectl.apply(make_deployment("web", V1, replicas=1), namespace)
    assert rollout_status(kubectl, namespace, "deployment/web").returncode == 0
    pod = core_api.list_namespaced_pod(namespace, label_selector="app=web").items[0]

    result = kubectl("delete", "pod", pod.metadata.name, "-n", namespace, "--timeout=30s")

    assert result.returncode == 0, result.stderr
    names = {p.metadata.name for p in core_api.list_namespaced_pod(namespace).items}
    assert pod.metadata.name not in names
