"""Restarts: on ConfigMap/Secret content change (debounced), on restartedAt, and after downtime."""

from __future__ import annotations

import base64

import pytest
from kubernetes import client

from .kube import Kubectl, make_deployment, wait_for
from .operator_process import OperatorProcess
from .rollouts import condition, events_for, get_rollout, make_rollout, wait_phase

ANNOTATION = "rollout-operator.dev/restart"


def configmap(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def generation(apps_api: client.AppsV1Api, namespace: str, name: str = "agent") -> int:
    value: int = apps_api.read_namespaced_deployment(name, namespace).metadata.generation
    return value


def restart_annotation(
    apps_api: client.AppsV1Api, namespace: str, name: str = "agent"
) -> str | None:
    template = apps_api.read_namespaced_deployment(name, namespace).spec.template
    return (template.metadata.annotations or {}).get(ANNOTATION)


def settled(custom_api, namespace, name="agent"):
    """Wait for Succeeded at the current generation, i.e. nothing pending."""
    return wait_phase(custom_api, namespace, name, "Succeeded", timeout=120)


@pytest.mark.compat
def test_configmap_change_restarts_once_and_adoption_restarts_nothing(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, apps_api: client.AppsV1Api,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    for name in ("a", "b", "c"):
        kubectl.apply(configmap(name, key="1"), namespace)
    kubectl.apply(make_deployment("agent", replicas=2), namespace)
    start = generation(apps_api, namespace)
    kubectl.apply(make_rollout("agent", "agent", config_maps=["a", "b", "c"]), namespace)
    rollout = settled(custom_api, namespace)
    assert generation(apps_api, namespace) == start, "adopting must not restart"
    assert rollout["status"]["configHash"]

    # One `kubectl apply` that edits three ConfigMaps: one restart, not three.
    edits = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [configmap(n, key="2") for n in ("a", "b", "c")],
    }
    kubectl.apply(edits, namespace)
    wait_for(lambda: generation(apps_api, namespace) > start, timeout=30, what="restart")
    rollout = settled(custom_api, namespace)
    assert generation(apps_api, namespace) == start + 1
    assert restart_annotation(apps_api, namespace) == rollout["status"]["restartTrigger"]
    restarts = [m for r, m in events_for(core_api, namespace, "agent") if r == "RestartTriggered"]
    assert len(restarts) == 1, restarts
    assert "ConfigMap/a" in restarts[0]

    # Metadata-only changes restart nothing (a Deployment's generation moves on annotation
    # edits, so look at the pod template instead).
    template = apps_api.read_namespaced_deployment("agent", namespace).spec.template
    kubectl("label", "configmap/a", "-n", namespace, "touched=yes")
    kubectl("annotate", "deployment/agent", "-n", namespace, "note=x")
    settled(custom_api, namespace)
    assert apps_api.read_namespaced_deployment("agent", namespace).spec.template == template
    assert [r for r, _ in events_for(core_api, namespace, "agent")].count("RestartTriggered") == 1


def test_secret_change_restarts_and_its_content_is_never_logged(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, apps_api: client.AppsV1Api,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    secret_value = "hunter2-e2e-secret-value"
    secret = {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "data": {"password": base64.b64encode(b"old").decode()},
    }  # fmt: skip
    kubectl.apply(secret, namespace)
    kubectl.apply(make_deployment("agent", replicas=1), namespace)
    kubectl.apply(make_rollout("agent", "agent", secrets=["creds"]), namespace)
    settled(custom_api, namespace)
    start = generation(apps_api, namespace)
    secret["data"] = {"password": base64.b64encode(secret_value.encode()).decode()}
    kubectl.apply(secret, namespace)
    wait_for(lambda: generation(apps_api, namespace) == start + 1, timeout=30, what="restart")
    settled(custom_api, namespace)
    log = operator.log()
    assert secret_value not in log
    assert secret["data"]["password"] not in log


def test_restarted_at_forces_exactly_one_restart(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, apps_api: client.AppsV1Api,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(make_deployment("agent", replicas=2), namespace)
    kubectl.apply(make_rollout("agent", "agent"), namespace)
    settled(custom_api, namespace)
    start = generation(apps_api, namespace)
    rollout = make_rollout("agent", "agent", restarted_at="2026-11-25T10:00:00Z")
    kubectl.apply(rollout, namespace)
    settled(custom_api, namespace)
    assert generation(apps_api, namespace) == start + 1
    assert restart_annotation(apps_api, namespace) == "restartedAt=2026-11-25T10:00:00Z"
    kubectl.apply(rollout, namespace)  # the same value again: nothing
    kubectl("annotate", "rollout/agent", "-n", namespace, "poke=1")
    settled(custom_api, namespace)
    assert generation(apps_api, namespace) == start + 1


def test_change_while_operator_was_down_is_acted_on_at_start(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, apps_api: client.AppsV1Api,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(configmap("agent-config", level="info"), namespace)
    kubectl.apply(make_deployment("agent", replicas=1), namespace)
    kubectl.apply(
        make_rollout(
            "agent",
            "agent",
            config_maps=["agent-config"],
            containers=[{"name": "app", "tag": "v1"}],
        ),
        namespace,
    )
    settled(custom_api, namespace)
    start = generation(apps_api, namespace)
    operator.stop()
    try:
        kubectl.apply(configmap("agent-config", level="debug"), namespace)
        kubectl.apply(
            make_rollout(
                "agent",
                "agent",
                config_maps=["agent-config"],
                containers=[{"name": "app", "tag": "v2"}],
            ),
            namespace,
        )
    finally:
        operator.start()
    rollout = settled(custom_api, namespace)
    # image and restart together: one write, one new generation
    assert generation(apps_api, namespace) == start + 1
    assert rollout["status"]["images"][0]["image"].endswith(":v2")
    assert condition(rollout, "Ready")["status"] == "True"


def test_ready_is_never_reported_while_a_config_restart_is_pending(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, apps_api: client.AppsV1Api,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(configmap("settings", level="info"), namespace)
    kubectl.apply(make_deployment("agent", replicas=2), namespace)
    kubectl.apply(make_rollout("agent", "agent", config_maps=["settings"]), namespace)
    settled(custom_api, namespace)
    for round_, level in enumerate(("debug", "warn")):
        before = restart_annotation(apps_api, namespace)
        kubectl.apply(configmap("settings", level=level), namespace)
        # What a CI script does right after the edit (the operator debounces the restart).
        waited = kubectl(
            "wait", "--for=condition=Ready", "rollout/agent", "-n", namespace, "--timeout=90s"
        )
        assert waited.returncode == 0, waited.stderr
        # Ready came back only once the restart was written and rolled out.
        after = restart_annotation(apps_api, namespace)
        assert after is not None, f"round {round_}: Ready before the restart was written"
        assert after != before, f"round {round_}: Ready before the restart was written"
        rollout = get_rollout(custom_api, namespace, "agent")
        latest = rollout["status"]["history"][0]
        assert (latest["trigger"], latest["result"]) == ("Config", "Succeeded")
        assert latest["changeCause"] == "content of ConfigMap/settings changed"
