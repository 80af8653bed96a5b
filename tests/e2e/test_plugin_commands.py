"""`kubectl rollouts get|list|set image|restart` and the plugin's other entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kubernetes import client

from .kube import Kubectl, make_deployment
from .operator_process import OperatorProcess
from .plugin_cli import (
    VENV_BIN,
    Plugin,
    plugin_env,
    plugin_fixture,  # noqa: F401  (the `plugin` fixture)
    ready_rollout,
)
from .rollouts import get_rollout

REPO = "registry.local:5000/team/web"
RESTART_ANNOTATION = "rollout-operator.dev/restart"


def two_containers(name: str) -> dict:
    deployment = make_deployment(name, f"{REPO}:v1", replicas=2)
    pod = deployment["spec"]["template"]["spec"]
    pod["containers"].append({"name": "proxy", "image": "registry.local/envoy:1.30"})
    pod["initContainers"] = [{"name": "migrate", "image": "registry.local/migrate:7"}]
    return deployment


def test_get_and_list_show_every_container(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(
        kubectl, custom_api, namespace, "web", two_containers("web"),
        containers=[{"name": "app", "tag": "v1"}],
    )  # fmt: skip
    listed = plugin("list", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:6] == ["NAME", "TARGET", "PHASE", "READY", "REVISION", "IMAGES"]
    assert row.split()[:4] == ["web", "Deployment/web", "Succeeded", "2/2/2"]
    assert f"app={REPO}:v1,proxy=registry.local/envoy:1.30" in row
    everywhere = plugin("list", "-A")
    assert everywhere.stdout.splitlines()[0].split()[0] == "NAMESPACE"
    assert any(line.split()[:2] == [namespace, "web"] for line in everywhere.stdout.splitlines())

    shown = plugin("get", "web", "-n", namespace)
    assert shown.returncode == 0, shown.stderr
    for expected in (
        "Target:      Deployment/web",
        "Phase:       Succeeded (RolloutComplete)",
        f"  app: {REPO}:v1",
        "  proxy: registry.local/envoy:1.30",
        "  migrate: registry.local/migrate:7",
        "  container app: tag v1",
    ):
        assert expected in shown.stdout, shown.stdout
    assert any(line.split()[:2] == ["Ready", "True"] for line in shown.stdout.splitlines())


def test_set_image_writes_only_the_rollouts_spec_and_refuses_typos(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    apps_api: client.AppsV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(
        kubectl, custom_api, namespace, "web", two_containers("web"),
        containers=[{"name": "app", "tag": "v1"}],
    )  # fmt: skip
    typo = plugin("set", "image", "web", "apq=:v2", "-n", namespace)
    assert typo.returncode == 1
    assert "'apq'" in typo.stderr
    assert "app, migrate, proxy" in typo.stderr
    bad = plugin("set", "image", "web", "app=:bad tag", "-n", namespace)
    assert bad.returncode == 2

    done = plugin(
        "set", "image", "web", "proxy=registry.local/envoy:1.31", "migrate=:8", "-n", namespace
    )
    assert done.returncode == 0, done.stderr
    spec = get_rollout(custom_api, namespace, "web")["spec"]
    assert spec["containers"] == [
        {"name": "app", "tag": "v1"},
        {"name": "proxy", "image": "registry.local/envoy:1.31"},
        {"name": "migrate", "tag": "8"},
    ]
    deployment = apps_api.read_namespaced_deployment("web", namespace)
    assert "kubectl-rollouts" not in {m.manager for m in deployment.metadata.managed_fields}
    rolled = plugin("status", "web", "-n", namespace, "--timeout", "10m")
    assert rolled.returncode == 0, rolled.stderr
    pod = apps_api.read_namespaced_deployment("web", namespace).spec.template.spec
    assert [c.image for c in pod.containers] == [f"{REPO}:v1", "registry.local/envoy:1.31"]
    assert [c.image for c in pod.init_containers] == ["registry.local/migrate:8"]
    same = plugin("set", "image", "web", "migrate=:8", "-n", namespace)
    assert same.stdout.strip() == "rollout.rollout-operator.dev/web unchanged"


def test_restart_sets_restarted_at_and_the_operator_restarts_once(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, namespace: str,
    apps_api: client.AppsV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(
        kubectl, custom_api, namespace, "web", make_deployment("web", f"{REPO}:v1", replicas=2)
    )
    before = apps_api.read_namespaced_deployment(
        "web", namespace
    ).spec.template.metadata.annotations
    restarted = plugin("restart", "web", "-n", namespace)
    assert (restarted.returncode, restarted.stdout.strip()) == (
        0,
        "rollout.rollout-operator.dev/web restarted",
    ), restarted.stderr
    value = get_rollout(custom_api, namespace, "web")["spec"]["restartedAt"]
    rolled = plugin("status", "web", "-n", namespace, "--timeout", "10m")
    assert rolled.returncode == 0, rolled.stderr
    after = apps_api.read_namespaced_deployment("web", namespace).spec.template.metadata.annotations
    assert (after or {}).get(RESTART_ANNOTATION) != (before or {}).get(RESTART_ANNOTATION)
    # A second restart in the same second is still a new value.
    assert plugin("restart", "web", "-n", namespace).returncode == 0
    assert get_rollout(custom_api, namespace, "web")["spec"]["restartedAt"] != value


def test_other_entry_points_and_kubeconfig_from_the_environment(
    operator: OperatorProcess, plugin: Plugin, kubectl: Kubectl, kubeconfig: Path, namespace: str,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    ready_rollout(
        kubectl, custom_api, namespace, "web", make_deployment("web", f"{REPO}:v1", replicas=1)
    )
    env = plugin_env({"KUBECONFIG": str(kubeconfig)})
    context = kubectl("config", "current-context").stdout.strip()
    for command in (
        [str(VENV_BIN / "rollout-operator"), "rollouts"],  # the image's entrypoint
        [sys.executable, "-m", "rollout_operator.plugin"],
        [str(VENV_BIN / "kubectl-rollouts")],
    ):
        result = subprocess.run(
            [*command, "status", "web", "-n", namespace, "--context", context, "--watch=false"],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.strip() == 'deployment "web" successfully rolled out'
    wrong = subprocess.run(
        [str(VENV_BIN / "kubectl-rollouts"), "list", "--context", "no-such-context"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert wrong.returncode == 4
    assert "no-such-context" in wrong.stderr
