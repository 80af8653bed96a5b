"""Manifests (built on tests/e2e's) and predicates the scenarios share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tests.e2e.kube import CONTAINER as E2E_CONTAINER
from tests.e2e.kube import make_deployment

CONTAINER = E2E_CONTAINER  # the one container of tests/e2e's manifests
GROUP = "rollout-operator.dev"
VERSION = "v1alpha1"
RESTART_ANNOTATION = "rollout-operator.dev/restart"
KUBECTL_RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
BENCH_LABEL = "rollout-operator.dev/bench"
REPOSITORY = "registry.local/bench/app"


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
    ns: str,
    name: str,
    tag: str,
    replicas: int = 1,
    role: str = "workload",
    *,
    annotations: Mapping[str, str] | None = None,
    surge: int | str = 1,
) -> dict[str, Any]:
    """tests/e2e's Deployment, in `ns`, labelled with its role in the benchmark.

    `annotations` go on the Deployment itself (Reloader reads its references there)."""
    body = make_deployment(
        name, image(tag), replicas, max_surge=surge, max_unavailable=0 if surge == 1 else surge
    )
    body["metadata"].update(namespace=ns, annotations=dict(annotations or {}))
    # A new dict: make_deployment shares one labels dict with the selector and template.
    body["metadata"]["labels"] = {**body["metadata"]["labels"], BENCH_LABEL: role}
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 0
    return body


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


def generation(obj: Mapping[str, Any]) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 0)


Predicate = Callable[[Mapping[str, Any]], bool]


def has_image(wanted: str) -> Predicate:
    return lambda obj: container_image(obj) == wanted


def newer_than(seen: int) -> Predicate:
    """The object's generation moved past `seen` (a restart, for a Deployment)."""
    return lambda obj: generation(obj) > seen


def ready_at(wanted: int) -> Predicate:
    """A Rollout Ready at exactly that generation."""
    return lambda obj: generation(obj) == wanted and rollout_ready(obj)


def both(first: Predicate, second: Predicate) -> Predicate:
    return lambda obj: first(obj) and second(obj)


def annotation_differs(key: str, previous: str | None) -> Predicate:
    """A workload whose pod-template annotation `key` is no longer `previous`."""
    return lambda obj: template_annotation(obj, key) != previous


def ready_with_new_hash(old_hash: str | None) -> Predicate:
    """A Ready Rollout whose status.configHash moved past `old_hash`."""
    return lambda obj: (
        rollout_ready(obj) and (obj.get("status") or {}).get("configHash") != old_hash
    )


def restarted_since(generations: Mapping[tuple[str, str], int]) -> Predicate:
    """Objects whose generation moved past the one recorded for them (unknown ones: never)."""

    def check(obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        seen = generations.get((meta.get("namespace", ""), meta.get("name", "")))
        return seen is not None and generation(obj) > seen

    return check
