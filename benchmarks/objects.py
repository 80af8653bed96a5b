"""Manifests and predicates the scenarios share."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

GROUP = "rollout-operator.dev"
VERSION = "v1alpha1"
RESTART_ANNOTATION = "rollout-operator.dev/restart"
KUBECTL_RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
BENCH_LABEL = "rollout-operator.dev/bench"
CONTAINER = "app"
REPOSITORY = "registry.local/bench/app"
KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}


def image(tag: str) -> str:
    return f"{REPOSITORY}:{tag}"


def deployments_path(namespace: str | None = None) -> str:
    return (
        f"/apis/apps/v1/namespaces/{namespace}/deployments"
        if namespace
        else "/apis/apps/v1/deployments"
    )


def configmaps_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


def rollouts_path(namespace: str | None = None) -> str:
    base = f"/apis/{GROUP}/{VERSION}"
    return f"{base}/namespaces/{namespace}/rollouts" if namespace else f"{base}/rollouts"


def namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {BENCH_LABEL: "true"}},
    }


def deployment(
    ns: str, name: str, tag: str, replicas: int = 1, role: str = "workload"
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {BENCH_LABEL: role}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": CONTAINER, "image": image(tag)}],
                    "tolerations": [KWOK_TOLERATION],
                    "terminationGracePeriodSeconds": 0,
                },
            },
        },
    }


def configmap(ns: str, name: str, size: int = 64, role: str = "config") -> dict[str, Any]:
    """A ConfigMap with about `size` bytes of data, different for every name."""
    seed = hashlib.sha256(name.encode()).hexdigest()
    text = (seed * (size // len(seed) + 1))[:size]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {BENCH_LABEL: role}},
        "data": {"config.txt": text},
    }


def rollout(
    ns: str, name: str, target: str, tag: str | None = None, configmaps: Sequence[str] = ()
) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetRef": {"kind": "Deployment", "name": target}}
    if tag is not None:
        spec["containers"] = [{"name": CONTAINER, "tag": tag}]
    if configmaps:
        spec["restartOnChangeOf"] = {"configMaps": list(configmaps)}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": ns, "labels": {BENCH_LABEL: "rollout"}},
        "spec": spec,
    }


# Predicates ----------------------------------------------------------------------------
def template(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("spec") or {}).get("template") or {}


def container_image(obj: Mapping[str, Any]) -> str | None:
    for container in (template(obj).get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER:
            return str(container.get("image"))
    return None


def template_annotation(obj: Mapping[str, Any], key: str) -> str | None:
    value = ((template(obj).get("metadata") or {}).get("annotations") or {}).get(key)
    return None if value is None else str(value)


def deployment_done(obj: Mapping[str, Any]) -> bool:
    """kubectl's `rollout status` success condition for a Deployment (written from kubectl's
    rollout_status.go, independently of the operator's port)."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return False
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "Progressing"
            and condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return False
    updated = int(status.get("updatedReplicas") or 0)
    if spec.get("replicas") is not None and updated < int(spec["replicas"]):
        return False
    if int(status.get("replicas") or 0) > updated:
        return False
    return int(status.get("availableReplicas") or 0) >= updated


def rollout_ready(obj: Mapping[str, Any]) -> bool:
    """Ready=True for the Rollout's current generation (what `kubectl wait` checks)."""
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return (
                condition.get("status") == "True"
                and int(condition.get("observedGeneration") or -1) == generation
            )
    return False
