"""StatefulSets and DaemonSets: set image, progress as kubectl reports it, and failure."""

from __future__ import annotations

import pytest
from kubernetes import client

from .kube import Kubectl, make_daemonset, make_statefulset
from .operator_process import OperatorProcess
from .rollouts import condition, make_rollout, wait_phase

KINDS = {
    "StatefulSet": (
        make_statefulset,
        "statefulset",
        "statefulset rolling update complete 3 pods at revision web-",
    ),
    "DaemonSet": (make_daemonset, "daemonset", 'daemon set "web" successfully rolled out'),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_set_image_and_progress(
    operator: OperatorProcess,
    kubectl: Kubectl,
    namespace: str,
    custom_api: client.CustomObjectsApi,
    kind: str,
):
    make, resource, done_message = KINDS[kind]
    manifest = make(
        "web", "registry.local/app:v1", **({"replicas": 3} if kind == "StatefulSet" else {})
    )
    kubectl.apply(manifest, namespace)
    kubectl.apply(
        make_rollout("web", "web", kind=kind, containers=[{"name": "app", "tag": "v2"}]), namespace
    )
    result = kubectl(
        "wait", "--for=condition=Ready", "rollout/web", "-n", namespace, "--timeout=120s"
    )
    assert result.returncode == 0, result.stderr
    status = kubectl("rollout", "status", f"{resource}/web", "-n", namespace, "--timeout=5s")
    assert status.returncode == 0
    rollout = wait_phase(custom_api, namespace, "web", "Succeeded")
    # the same words as kubectl (a StatefulSet's message ends with its revision hash)
    assert rollout["status"]["message"].startswith(done_message)
    assert status.stdout.strip().splitlines()[-1] == rollout["status"]["message"]
    assert rollout["status"]["images"] == [{"container": "app", "image": "registry.local/app:v2"}]


@pytest.mark.parametrize("kind", list(KINDS))
def test_broken_image_fails_at_the_rollouts_deadline(
    operator: OperatorProcess,
    kubectl: Kubectl,
    namespace: str,
    custom_api: client.CustomObjectsApi,
    kind: str,
):
    make, _, _ = KINDS[kind]
    manifest = make(
        "web", "registry.local/app:v1", **({"replicas": 2} if kind == "StatefulSet" else {})
    )
    kubectl.apply(manifest, namespace)
    kubectl.apply(
        make_rollout(
            "web",
            "web",
            kind=kind,
            containers=[{"name": "app", "tag": "v2-broken"}],
            progress_deadline_seconds=6,
        ),
        namespace,
    )
    rollout = wait_phase(custom_api, namespace, "web", "Failed", timeout=90)
    assert condition(rollout, "Stalled")["reason"] == "ProgressDeadlineExceeded"
    assert f'{kind.lower()} "web" exceeded its progress deadline' in rollout["status"]["message"]
