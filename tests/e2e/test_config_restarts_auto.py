"""restartOnChangeOf.auto: discovery from every pod-template reference form, the opt-out
annotation, per-kind switches, and name-hashed ConfigMaps (kustomize configMapGenerator)."""

from __future__ import annotations

import pytest
from kubernetes import client

from .kube import Kubectl
from .operator_process import OperatorProcess
from .test_config_restarts import (
    IGNORE_ANNOTATION,
    Workload,
    config_volume,
    configmap,
    deployment,
    names_only,
    rollout,
    secret,
)


@pytest.fixture
def app(
    operator: OperatorProcess, namespace: str, apps_api: client.AppsV1Api,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
) -> Workload:  # fmt: skip
    """Observer of Deployment `app` and Rollout `app` in the test's namespace (operator running)."""
    return Workload(namespace, apps_api, core_api, custom_api)


# Every form of reference, as (object kind, object name, where in the pod template).
FORMS = [
    ("ConfigMap", "vol-cm", "volumes[].configMap"),
    ("Secret", "vol-secret", "volumes[].secret"),
    ("ConfigMap", "proj-cm", "volumes[].projected.sources[].configMap"),
    ("Secret", "proj-secret", "volumes[].projected.sources[].secret"),
    ("ConfigMap", "envfrom-cm", "containers[].envFrom[].configMapRef"),
    ("Secret", "envfrom-secret", "containers[].envFrom[].secretRef"),
    ("ConfigMap", "env-cm", "containers[].env[].valueFrom.configMapKeyRef"),
    ("Secret", "env-secret", "containers[].env[].valueFrom.secretKeyRef"),
    ("ConfigMap", "init-envfrom-cm", "initContainers[].envFrom[].configMapRef"),
    ("Secret", "init-env-secret", "initContainers[].env[].valueFrom.secretKeyRef"),
]


def every_form_deployment() -> dict:
    return deployment(
        volumes=[
            config_volume("vol-cm"),
            {"name": "v-secret", "secret": {"secretName": "vol-secret"}},
            {"name": "v-proj", "projected": {"sources": [
                {"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-secret"}},
            ]}},
        ],
        env_from=[{"configMapRef": {"name": "envfrom-cm"}}, {"secretRef": {"name": "envfrom-secret"}}],
        env=[
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}},
        ],
        init={
            "envFrom": [{"configMapRef": {"name": "init-envfrom-cm"}}],
            "env": [{"name": "C", "valueFrom": {"secretKeyRef": {"name": "init-env-secret", "key": "k"}}}],
        },
        image_pull_secrets=["regcred"],
    )  # fmt: skip


def apply_object(kubectl: Kubectl, namespace: str, kind: str, name: str, value: str, **kw) -> None:
    make = configmap if kind == "ConfigMap" else secret
    kubectl.apply(make(name, {"k": value}, **kw), namespace)


def test_auto_discovers_every_reference_form_and_restarts_once_per_change(
    app: Workload,
    kubectl: Kubectl,
    namespace: str,
):
    for kind, name, _ in FORMS:
        apply_object(kubectl, namespace, kind, name, "1")
    apply_object(kubectl, namespace, "Secret", "regcred", "1")  # imagePullSecrets: not config
    kubectl.apply(every_form_deployment(), namespace)
    kubectl.apply(rollout(auto={"configMaps": True, "secrets": True}), namespace)
    app.settled()
    expected = {f"{kind}/{name}" for kind, name, _ in FORMS}
    recorded = app.wait_recorded(lambda r: set(r) == expected, "every form recorded")
    assert all(c["auto"] is True and c["hash"] for c in recorded.values()), recorded
    start = app.generation()
    assert app.restart_annotation() is None  # discovery alone restarts nothing

    for index, (kind, name, where) in enumerate(FORMS, start=1):
        apply_object(kubectl, namespace, "Secret", "regcred", f"{index + 1}")  # never counts
        apply_object(kubectl, namespace, kind, name, "2")
        message = app.wait_restart(start + index)
        others = [f"{k}/{n}" for k, n, _ in FORMS if n != name] + ["Secret/regcred"]
        assert names_only(message, [f"{kind}/{name}"], others), (where, message)


def test_ignore_annotation_opts_out_of_discovery_but_not_of_explicit_names(
    app: Workload,
    kubectl: Kubectl,
    namespace: str,
):
    ignored = {IGNORE_ANNOTATION: "true"}
    kubectl.apply(configmap("noisy", {"k": "1"}, annotations=ignored), namespace)
    kubectl.apply(configmap("settings", {"k": "1"}), namespace)
    kubectl.apply(
        deployment(volumes=[config_volume("noisy"), config_volume("settings")]), namespace
    )
    kubectl.apply(rollout(auto={"configMaps": True}), namespace)
    app.settled()
    app.wait_recorded(lambda r: set(r) == {"ConfigMap/settings"}, "only settings recorded")
    start = app.generation()

    kubectl.apply(configmap("noisy", {"k": "2"}, annotations=ignored), namespace)
    kubectl.apply(configmap("settings", {"k": "2"}), namespace)  # barrier, same watch stream
    message = app.wait_restart(start + 1)
    assert names_only(message, ["ConfigMap/settings"], ["ConfigMap/noisy"]), message

    # Annotation removed: a new reference, i.e. a baseline.
    kubectl("annotate", "configmap/noisy", "-n", namespace, f"{IGNORE_ANNOTATION}-", check=True)
    app.wait_recorded(lambda r: "ConfigMap/noisy" in r, "noisy recorded")
    assert app.generation() == start + 1
    kubectl.apply(configmap("noisy", {"k": "3"}), namespace)
    message = app.wait_restart(start + 2)
    assert names_only(message, ["ConfigMap/noisy"], ["ConfigMap/settings"]), message

    # Ignored again, but listed by name: the name wins.
    kubectl.apply(configmap("noisy", {"k": "3"}, annotations=ignored), namespace)
    kubectl.apply(rollout(config_maps=["noisy"], auto={"configMaps": True}), namespace)
    recorded = app.wait_recorded(lambda r: r.get("ConfigMap/noisy", {}).get("auto") is False, "explicit")  # fmt: skip
    assert recorded["ConfigMap/settings"]["auto"] is True
    kubectl.apply(configmap("noisy", {"k": "4"}, annotations=ignored), namespace)
    message = app.wait_restart(start + 3)
    assert names_only(message, ["ConfigMap/noisy"], ["ConfigMap/settings"]), message


def test_auto_kinds_are_switched_separately(
    app: Workload,
    kubectl: Kubectl,
    namespace: str,
):
    kubectl.apply(configmap("cfg", {"k": "1"}), namespace)
    kubectl.apply(secret("creds", {"k": "1"}), namespace)
    kubectl.apply(
        deployment(env_from=[{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}}]),
        namespace,
    )
    kubectl.apply(rollout(auto={"configMaps": True}), namespace)
    app.settled()
    app.wait_recorded(lambda r: set(r) == {"ConfigMap/cfg"}, "only the ConfigMap recorded")
    start = app.generation()

    kubectl.apply(secret("creds", {"k": "2"}), namespace)
    kubectl.apply(configmap("cfg", {"k": "2"}), namespace)
    message = app.wait_restart(start + 1)
    assert names_only(message, ["ConfigMap/cfg"], ["Secret/creds"]), message
    # Switched on: the Secret is a new reference, its current content the baseline.
    kubectl.apply(rollout(auto={"configMaps": True, "secrets": True}), namespace)
    app.wait_recorded(lambda r: "Secret/creds" in r, "the Secret recorded")
    assert app.generation() == start + 1
    kubectl.apply(secret("creds", {"k": "3"}), namespace)
    message = app.wait_restart(start + 2)
    assert names_only(message, ["Secret/creds"], ["ConfigMap/cfg"]), message


def test_name_hashed_configmap_rename_adds_no_restart(
    app: Workload,
    kubectl: Kubectl,
    namespace: str,
):
    # kustomize configMapGenerator: every content change is a new name in the template.
    old, new = "app-config-5d4b1f", "app-config-7f9c2a"
    kubectl.apply(configmap(old, {"k": "1"}, immutable=True), namespace)
    kubectl.apply(deployment(volumes=[config_volume(old)], env_from=[{"configMapRef": {"name": old}}]), namespace)  # fmt: skip
    kubectl.apply(rollout(auto={"configMaps": True}), namespace)
    app.settled()
    app.wait_recorded(lambda r: set(r) == {f"ConfigMap/{old}"}, "old name recorded")
    start = app.generation()

    kubectl.apply(configmap(new, {"k": "2"}, immutable=True), namespace)
    kubectl.apply(deployment(volumes=[config_volume(new)], env_from=[{"configMapRef": {"name": new}}]), namespace)  # fmt: skip
    app.wait_recorded(lambda r: set(r) == {f"ConfigMap/{new}"}, "new name recorded")
    app.settled()
    assert app.generation() == start + 1  # the template change itself, nothing added
    assert app.restart_annotation() is None
    assert app.restart_messages() == []
