"""`kubectl rollouts history` and `undo` on every workload kind: undo writes the Rollout's
spec (full image references) and never the workload; the operator rolls it out."""

from __future__ import annotations

import pytest
from kubernetes import client

from .kube import Kubectl, Observed, make_daemonset, make_deployment, make_statefulset, wait_for
from .operator_process import OperatorProcess
from .plugin_cli import (
    Plugin,
    plugin_fixture,  # noqa: F401  (the `plugin` fixture)
    ready_rollout,
    template_image,
)
from .rollouts import GROUP, PLURAL, VERSION, get_rollout, wait_phase

REPO = "registry.local:5000/team/app"
MAKERS = {
    "Deployment": lambda name: make_deployment(name, f"{REPO}:v1", replicas=2),
    "StatefulSet": lambda name: make_statefulset(name, f"{REPO}:v1", replicas=2),
    "DaemonSet": lambda name: make_daemonset(name, f"{REPO}:v1"),
}


def managers(apps_api: client.AppsV1Api, kind: str, namespace: str, name: str) -> set[str]:
    read = {
        "Deployment": apps_api.read_namespaced_deployment,
        "StatefulSet": apps_api.read_namespaced_stateful_set,
        "DaemonSet": apps_api.read_namespaced_daemon_set,
    }[kind]
    return {m.manager for m in read(name, namespace).metadata.managed_fields or []}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_history_and_undo_restore_the_previous_images(
    kind: str, operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    apps_api: client.AppsV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(
        kubectl, custom_api, namespace, "app", MAKERS[kind]("app"),
        containers=[{"name": "app", "tag": "v1"}],
    )  # fmt: skip
    assert plugin("set", "image", "app", "app=:v2", "-n", namespace).returncode == 0
    done = plugin("status", "app", "-n", namespace, "--timeout", "10m")
    assert done.returncode == 0, done.stderr
    assert template_image(apps_api, kind, namespace, "app") == f"{REPO}:v2"

    history = plugin("history", "app", "-n", namespace)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0] == "rollout.rollout-operator.dev/app"
    assert lines[1].split()[:3] == ["REVISION", "TRIGGER", "RESULT"]
    revisions = [line.split() for line in lines[2:]]
    assert len(revisions) >= 2, history.stdout
    assert revisions[-1][2] == "Succeeded"  # the current one, listed last like kubectl
    previous = revisions[-2][0]
    shown = plugin("history", "app", "-n", namespace, "--revision", previous)
    assert shown.returncode == 0, shown.stderr
    assert f"app: {REPO}:v1" in shown.stdout

    undone = plugin("undo", "app", "-n", namespace)
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout.strip() == (
        f"rollout.rollout-operator.dev/app rolled back to revision {previous} (app={REPO}:v1)"
    )
    assert "GitOps" in undone.stderr or "Git" in undone.stderr
    # Only the Rollout's spec was written, with a full reference.
    assert get_rollout(custom_api, namespace, "app")["spec"]["containers"] == [
        {"name": "app", "image": f"{REPO}:v1"}
    ]
    assert "kubectl-rollouts" not in managers(apps_api, kind, namespace, "app")

    rolled = plugin("status", "app", "-n", namespace, "--timeout", "10m")
    assert rolled.returncode == 0, rolled.stderr
    assert template_image(apps_api, kind, namespace, "app") == f"{REPO}:v1"
    again = plugin("undo", "app", "-n", namespace, "--to-revision", previous)
    assert again.returncode == 0
    assert "skipped rollback" in again.stdout


def test_undo_refuses_what_history_does_not_have(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(kubectl, custom_api, namespace, "app", MAKERS["Deployment"]("app"))
    before = get_rollout(custom_api, namespace, "app")
    unknown = plugin("undo", "app", "-n", namespace, "--to-revision", "99")
    assert unknown.returncode == 1
    assert "revision 99 not found" in unknown.stderr
    nothing = plugin("undo", "app", "-n", namespace)
    assert nothing.returncode == 1
    assert "nothing to undo" in nothing.stderr
    after = get_rollout(custom_api, namespace, "app")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]


@pytest.mark.parametrize("kind", list(MAKERS))
def test_rollback_on_failure_restores_the_last_good_images(
    kind: str, operator: OperatorProcess, kubectl: Kubectl, namespace: str,
    apps_api: client.AppsV1Api, core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    """spec.rollbackOnFailure on every kind: a release that fails its deadline is set back
    to the last succeeded revision's images (phase RolledBack), and that rolls out."""
    workload = MAKERS[kind]("app")
    if kind == "Deployment":
        workload["spec"]["progressDeadlineSeconds"] = 6
    ready_rollout(
        kubectl, custom_api, namespace, "app", workload,
        containers=[{"name": "app", "tag": "v1"}], progress_deadline_seconds=6,
    )  # fmt: skip
    custom_api.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "app",
        {"spec": {"rollbackOnFailure": True, "containers": [{"name": "app", "tag": "v2-broken"}]}},
    )  # fmt: skip
    rolled = wait_phase(custom_api, namespace, "app", "RolledBack", timeout=120)
    assert "rolled back to revision" in rolled["status"]["message"], rolled["status"]
    assert template_image(apps_api, kind, namespace, "app") == f"{REPO}:v1"
    # The spec still says what was asked; only the workload went back.
    assert rolled["spec"]["containers"] == [{"name": "app", "tag": "v2-broken"}]
    if kind == "StatefulSet":
        # Kubernetes' "forced rollback" (StatefulSet docs): a pod that never became Ready
        # on the bad template is not replaced until it is deleted; the README says so.
        for pod in core_api.list_namespaced_pod(namespace).items:
            if pod.spec.containers[0].image.endswith(":v2-broken"):
                core_api.delete_namespaced_pod(pod.metadata.name, namespace)
    done = kubectl("rollout", "status", f"{kind.lower()}/app", "-n", namespace, "--timeout=120s")
    assert done.returncode == 0, (done.stdout, done.stderr)

    def rollback_entry() -> Observed:
        entries = get_rollout(custom_api, namespace, "app")["status"].get("history") or []
        last = entries[0] if entries else {}  # newest first
        return Observed(
            last.get("trigger") == "Rollback" and last.get("result") == "Succeeded", entries
        )

    wait_for(rollback_entry, timeout=60, what="the rollback revision Succeeded in the history")
    final = get_rollout(custom_api, namespace, "app")
    assert final["status"]["phase"] == "RolledBack"  # until the spec changes again
    assert final["status"]["images"] == [{"container": "app", "image": f"{REPO}:v1"}]
    # The rollback's own rollout is its revision, not "changed outside this Rollout".
    assert [(e["revision"], e["trigger"]) for e in final["status"]["history"]] == [
        (3, "Rollback"),
        (2, "Image"),
        (1, "Adopted"),
    ]
