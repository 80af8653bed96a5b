"""Bad input and odd situations: each has a clear condition, and nothing is half-written."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from .kube import Kubectl, make_deployment
from .operator_process import OperatorProcess
from .rollouts import condition, get_rollout, make_rollout, wait_event, wait_phase


@pytest.mark.parametrize(
    ("containers", "error"),
    [
        ([{"name": "app", "image": "app:v1", "tag": "v2"}], "set exactly one of image or tag"),
        ([{"name": "app"}], "set exactly one of image or tag"),
        ([{"name": "app", "image": "Not A Valid Image"}], "spec.containers[0].image"),
        ([{"name": "app", "tag": "bad/tag"}], "spec.containers[0].tag"),
    ],
)
def test_apiserver_rejects_invalid_specs_at_apply(
    crds_installed: list[str], kubectl: Kubectl, namespace: str, containers: list, error: str
):
    manifest = make_rollout("bad", "server", containers=containers)
    result = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    assert result.returncode != 0
    assert error in result.stderr


def test_unsupported_kind_is_rejected_at_apply(
    crds_installed: list[str], kubectl: Kubectl, namespace: str
):
    manifest = make_rollout("bad", "server", kind="CronJob")
    result = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    assert result.returncode != 0
    assert 'supported values: "Deployment", "StatefulSet", "DaemonSet"' in result.stderr


def test_missing_target_waits_then_proceeds_by_itself(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, custom_api: client.CustomObjectsApi,
    core_api: client.CoreV1Api,
):  # fmt: skip
    kubectl.apply(
        make_rollout("server", "server", containers=[{"name": "app", "tag": "v2"}]), namespace
    )
    rollout = wait_phase(custom_api, namespace, "server", "Blocked", reason="TargetNotFound")
    assert rollout["status"]["message"] == (
        f'Deployment "server" not found in namespace "{namespace}"; the rollout starts by itself once it exists'
    )
    assert condition(rollout, "Stalled")["status"] == "True"
    wait_event(core_api, namespace, "server", "TargetNotFound")
    kubectl.apply(make_deployment("server"), namespace)
    rollout = wait_phase(custom_api, namespace, "server", "Succeeded")
    assert rollout["status"]["images"][0]["image"].endswith(":v2")


def test_unknown_container_lists_the_names_it_has(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, apps_api: client.AppsV1Api,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(make_deployment("server"), namespace)
    before = apps_api.read_namespaced_deployment("server", namespace).metadata.generation
    kubectl.apply(
        make_rollout(
            "server",
            "server",
            containers=[{"name": "app", "tag": "v2"}, {"name": "web", "tag": "v2"}],
        ),
        namespace,
    )
    rollout = wait_phase(custom_api, namespace, "server", "Blocked", reason="ContainerNotFound")
    assert (
        rollout["status"]["message"]
        == "Deployment/server has no container named 'web'; it has: app"
    )
    # Nothing half-written: the valid `app` entry was not applied either.
    assert apps_api.read_namespaced_deployment("server", namespace).metadata.generation == before


def test_missing_configmap_blocks_until_it_exists(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(make_deployment("agent", replicas=1), namespace)
    kubectl.apply(make_rollout("agent", "agent", config_maps=["agent-config"]), namespace)
    rollout = wait_phase(custom_api, namespace, "agent", "Blocked", reason="ConfigNotFound")
    assert rollout["status"]["message"].startswith(
        'ConfigMap "agent-config" (named in spec.restartOnChangeOf) not found'
    )
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "agent-config"},
            "data": {"a": "1"},
        },
        namespace,
    )
    wait_phase(custom_api, namespace, "agent", "Succeeded")


def test_second_rollout_on_the_same_workload_is_refused(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, custom_api: client.CustomObjectsApi,
    apps_api: client.AppsV1Api,
):  # fmt: skip
    kubectl.apply(make_deployment("server", replicas=1), namespace)
    kubectl.apply(
        make_rollout("first", "server", containers=[{"name": "app", "tag": "v2"}]), namespace
    )
    wait_phase(custom_api, namespace, "first", "Succeeded")
    kubectl.apply(
        make_rollout("second", "server", containers=[{"name": "app", "tag": "v3"}]), namespace
    )
    second = wait_phase(custom_api, namespace, "second", "Blocked", reason="TargetClaimed")
    assert 'already managed by Rollout "first"' in second["status"]["message"]
    image = (
        apps_api.read_namespaced_deployment("server", namespace)
        .spec.template.spec.containers[0]
        .image
    )
    assert image.endswith(":v2")
    first = get_rollout(custom_api, namespace, "first")
    assert first["status"]["phase"] == "Succeeded"
    # Once the first goes away, the second takes over.
    kubectl("delete", "rollout/first", "-n", namespace, "--wait=true")
    wait_phase(custom_api, namespace, "second", "Succeeded")
    image = (
        apps_api.read_namespaced_deployment("server", namespace)
        .spec.template.spec.containers[0]
        .image
    )
    assert image.endswith(":v3")


def test_target_deleted_mid_rollout_and_rollout_deletion_leaves_workload_alone(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, custom_api: client.CustomObjectsApi,
    apps_api: client.AppsV1Api,
):  # fmt: skip
    kubectl.apply(make_deployment("server", replicas=3), namespace)
    kubectl.apply(
        make_rollout("server", "server", containers=[{"name": "app", "tag": "v2"}]), namespace
    )
    wait_phase(custom_api, namespace, "server", "Progressing")
    kubectl("delete", "deployment/server", "-n", namespace, "--wait=false")
    wait_phase(custom_api, namespace, "server", "Blocked", reason="TargetNotFound")

    kubectl.apply(make_deployment("server", replicas=1), namespace)
    wait_phase(custom_api, namespace, "server", "Succeeded")
    before = apps_api.read_namespaced_deployment("server", namespace)
    assert not get_rollout(custom_api, namespace, "server")["metadata"].get("finalizers")
    deleted = kubectl("delete", "rollout/server", "-n", namespace, "--timeout=20s")
    assert deleted.returncode == 0, deleted.stderr
    after = apps_api.read_namespaced_deployment("server", namespace)
    assert after.metadata.generation == before.metadata.generation
    assert after.spec.template.spec.containers[0].image.endswith(":v2")


def test_paused_deployment_is_reported_and_resumes(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    kubectl.apply(make_deployment("server", replicas=2), namespace)
    assert kubectl("rollout", "pause", "deployment/server", "-n", namespace).returncode == 0
    kubectl.apply(
        make_rollout("server", "server", containers=[{"name": "app", "tag": "v2"}]), namespace
    )
    rollout = wait_phase(custom_api, namespace, "server", "Blocked", reason="DeploymentPaused")
    assert "kubectl rollout resume deployment/server" in rollout["status"]["message"]
    assert kubectl("rollout", "resume", "deployment/server", "-n", namespace).returncode == 0
    wait_phase(custom_api, namespace, "server", "Succeeded")


def test_no_kopf_bookkeeping_on_users_objects(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str, custom_api: client.CustomObjectsApi,
    apps_api: client.AppsV1Api, core_api: client.CoreV1Api,
):  # fmt: skip
    kubectl.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}},
        namespace,
    )
    kubectl.apply(make_deployment("server", replicas=1), namespace)
    kubectl.apply(
        make_rollout(
            "server", "server", config_maps=["cfg"], containers=[{"name": "app", "tag": "v2"}]
        ),
        namespace,
    )
    rollout = wait_phase(custom_api, namespace, "server", "Succeeded")
    deployment = apps_api.read_namespaced_deployment("server", namespace)
    cm = core_api.read_namespaced_config_map("cfg", namespace)
    for obj in (deployment.metadata, cm.metadata):
        assert not [k for k in (obj.annotations or {}) if "kopf" in k], obj.annotations
        assert not obj.finalizers
    assert not [k for k in rollout["metadata"].get("annotations") or {} if "kopf" in k]
    # Our manager owns only the image and our annotation.
    ours = [m for m in deployment.metadata.managed_fields if m.manager == "rollout-operator"]
    owned = json.dumps([m.fields_v1 for m in ours])
    assert "f:image" in owned
    for foreign in ("f:replicas", "f:labels", "f:selector", "f:strategy"):
        assert foreign not in owned, owned
