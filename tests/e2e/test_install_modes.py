"""The shipped install variants on the real apiserver: namespaced RBAC and HA (Lease)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from .kube import Kubectl, make_deployment, wait_for
from .operator_process import (
    LOG_DIR,
    OperatorProcess,
    grant_leases,
    install,
    render_manifests,
    service_account_kubeconfig,
)
from .rollouts import events_for, make_rollout, wait_phase

SHIPPED_NAMESPACE = "rollout-operator-system"


def relocate(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The namespaced overlay, moved from rollout-operator-system into `namespace`."""
    moved = []
    for obj in objects:
        if obj["kind"] in ("Namespace", "CustomResourceDefinition"):
            continue
        if obj["metadata"].get("namespace") == SHIPPED_NAMESPACE:
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            subject["namespace"] = namespace
        moved.append(obj)
    return moved


def _aggregated(obj: dict[str, Any]) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return any(key.startswith("rbac.authorization.k8s.io/aggregate-to-") for key in labels)


def test_namespaced_install_works_inside_and_is_refused_outside(
    kubectl: Kubectl, kubeconfig: Path, crds_installed: list[str], namespace: str,
    custom_api: client.CustomObjectsApi,
):  # fmt: skip
    objects = relocate(render_manifests(kubectl, "manifests/overlays/namespaced"), namespace)
    assert {o["kind"] for o in objects} >= {"Role", "RoleBinding", "ServiceAccount"}
    # Cluster-wide RBAC only as aggregated roles for people (view/edit), none for the operator.
    operator_rbac = [o for o in objects if not _aggregated(o)]
    assert not {"ClusterRole", "ClusterRoleBinding"} & {o["kind"] for o in operator_rbac}
    install(kubectl, objects)
    token_config = service_account_kubeconfig(
        kubectl, kubeconfig, namespace, "rollout-operator", LOG_DIR / f"{namespace}.kubeconfig"
    )
    account = f"system:serviceaccount:{namespace}:rollout-operator"
    can = kubectl("auth", "can-i", "patch", "deployments", "-n", namespace, "--as", account)
    assert can.stdout.strip() == "yes"
    cannot = kubectl("auth", "can-i", "patch", "deployments", "-n", "default", "--as", account)
    assert cannot.stdout.strip() == "no"

    # As the shipped Deployment runs it (every install has --leader-elect): the namespaced
    # RBAC alone lets it hold its Lease and act.
    inside = OperatorProcess(
        token_config, ["--namespace", namespace, "--leader-elect"], name=f"{namespace}-inside",
        env={"POD_NAMESPACE": namespace},
    )  # fmt: skip
    inside.start()
    try:
        kubectl.apply(make_deployment("server", replicas=1), namespace)
        kubectl.apply(
            make_rollout("server", "server", containers=[{"name": "app", "tag": "v2"}]), namespace
        )
        wait_phase(custom_api, namespace, "server", "Succeeded")
        assert _lease_holder(kubectl, namespace, "rollout-operator") == f"{namespace}-inside"
        assert "--leader-elect is set but" not in inside.log()
    finally:
        inside.stop()

    outside = OperatorProcess(
        token_config,
        ["--namespace", "default", "--log-format", "json"],
        name=f"{namespace}-outside",
    )
    outside.start()  # starts and stays healthy (it waits for RBAC instead of crash-looping)...
    try:
        # ...and says exactly which rule is missing.
        expected = "not watching namespace 'default': the operator may not list rollouts.rollout-operator.dev"
        wait_for(lambda: expected in outside.log(), timeout=30, what="the RBAC error in the log")
        assert outside.healthy()
        assert "Traceback" not in outside.log()
        records = [json.loads(line) for line in outside.log().splitlines() if line.startswith("{")]
        assert any(
            r["message"].startswith(expected) and r["severity"] == "error" for r in records
        ), records
    finally:
        outside.stop()


def _lease_holder(kubectl: Kubectl, namespace: str, lease: str) -> str:
    got = kubectl("get", "lease", lease, "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}")
    return got.stdout.strip() if got.returncode == 0 else ""


@pytest.mark.compat
def test_two_replicas_with_leader_election_apply_each_change_once(
    kubectl: Kubectl, operator: OperatorProcess, operator_kubeconfig: Path, namespace: str,
    apps_api: client.AppsV1Api, core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
):  # fmt: skip
    lease = f"e2e-ha-{secrets.token_hex(3)}"
    grant_leases(kubectl, namespace)
    operator.stop()  # only the HA pair may act during this test
    args = ["--enable-secrets", "--leader-elect", "--leader-election-id", lease,
            "--leader-election-namespace", namespace, "--lease-duration", "5"]  # fmt: skip
    replicas = {
        name: OperatorProcess(operator_kubeconfig, args, name=name)
        for name in (f"{lease}-a", f"{lease}-b")
    }
    try:
        for replica in replicas.values():
            replica.start()
        holder = wait_for(
            lambda: (
                _lease_holder(kubectl, namespace, lease) in replicas
                and _lease_holder(kubectl, namespace, lease)
            ),
            timeout=60,
            what="a replica holding the Lease",
        )
        names = [f"app{i}" for i in range(5)]
        for name in names:
            kubectl.apply(make_deployment(name, replicas=1), namespace)
            kubectl.apply(
                make_rollout(name, name, containers=[{"name": "app", "tag": "v2"}]), namespace
            )
        for name in names:
            wait_phase(custom_api, namespace, name, "Succeeded")
            # created (1) + exactly one image patch (2)
            assert apps_api.read_namespaced_deployment(name, namespace).metadata.generation == 2
            reasons = [r for r, _ in events_for(core_api, namespace, name)]
            assert reasons.count("ImageUpdated") == 1, reasons

        # The active replica stops (it releases the Lease): the standby takes over.
        replicas[holder].stop()
        wait_for(
            lambda: _lease_holder(kubectl, namespace, lease) not in ("", holder),
            timeout=30,
            what="the standby holding the Lease",
        )
        kubectl.apply(
            make_rollout("app0", "app0", containers=[{"name": "app", "tag": "v3"}]), namespace
        )
        wait_phase(custom_api, namespace, "app0", "Succeeded", timeout=120)
        assert apps_api.read_namespaced_deployment("app0", namespace).metadata.generation == 3
    finally:
        for replica in replicas.values():
            replica.stop()
        operator.start()
