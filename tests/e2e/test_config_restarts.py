"""Config restarts, one test per row of the semantics table (docs/config-restarts.md).

Restarts are counted as changes of the Deployment's generation (nothing else edits its
template in these tests) and as RestartTriggered Events; every "nothing restarted" check
follows a positive barrier: a status the operator can only write after seeing the event,
or a later restart on the same watch stream whose message must not name the first object.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from kubernetes import client

from .kube import Kubectl, Observed, make_deployment, wait_for
from .operator_process import OperatorProcess
from .rollouts import get_rollout, wait_phase

RESTART_ANNOTATION = "rollout-operator.dev/restart"
IGNORE_ANNOTATION = "rollout-operator.dev/ignore"
APP = "app"


# Manifests ------------------------------------------------------------------------------
def configmap(
    name: str, data: Mapping[str, str], *, annotations: Mapping[str, str] | None = None,
    immutable: bool = False,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": dict(annotations or {})}, "data": dict(data),
    }  # fmt: skip
    if immutable:
        body["immutable"] = True
    return body


def secret(
    name: str, data: Mapping[str, str], *, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "annotations": dict(annotations or {})}, "data": encoded,
    }  # fmt: skip


def rollout(
    *, config_maps: Sequence[str] = (), secrets: Sequence[str] = (),
    auto: Mapping[str, bool] | None = None,
) -> dict[str, Any]:  # fmt: skip
    refs: dict[str, Any] = {}
    if config_maps:
        refs["configMaps"] = list(config_maps)
    if secrets:
        refs["secrets"] = list(secrets)
    if auto is not None:
        refs["auto"] = dict(auto)
    spec: dict[str, Any] = {"targetRef": {"kind": "Deployment", "name": APP}}
    if refs:
        spec["restartOnChangeOf"] = refs
    return {
        "apiVersion": "rollout-operator.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": APP}, "spec": spec,
    }  # fmt: skip


def deployment(
    *, volumes: Sequence[Mapping[str, Any]] = (), env_from: Sequence[Mapping[str, Any]] = (),
    env: Sequence[Mapping[str, Any]] = (), init: Mapping[str, Any] | None = None,
    image_pull_secrets: Sequence[str] = (),
) -> dict[str, Any]:  # fmt: skip
    """One-replica Deployment `app` whose pod template references what it is given."""
    body = make_deployment(APP, replicas=1)
    pod = body["spec"]["template"]["spec"]
    container = pod["containers"][0]
    if volumes:
        pod["volumes"] = [dict(v) for v in volumes]
        container["volumeMounts"] = [{"name": v["name"], "mountPath": f"/m/{v['name']}"} for v in volumes]  # fmt: skip
    if env_from:
        container["envFrom"] = [dict(e) for e in env_from]
    if env:
        container["env"] = [dict(e) for e in env]
    if init:
        pod["initContainers"] = [{"name": "init", "image": container["image"], **init}]
    if image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": n} for n in image_pull_secrets]
    return body


def config_volume(name: str, optional: bool | None = None) -> dict[str, Any]:
    source: dict[str, Any] = {"name": name}
    if optional is not None:
        source["optional"] = optional
    return {"name": f"v-{name}", "configMap": source}


# Observations -----------------------------------------------------------------------------
class Workload:
    """The `app` Deployment and its Rollout in one namespace, as the tests observe them."""

    def __init__(self, namespace: str, apps_api: client.AppsV1Api,
                 core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi) -> None:  # fmt: skip
        self.namespace = namespace
        self.apps_api = apps_api
        self.core_api = core_api
        self.custom_api = custom_api
        self.seen_events: set[str] = set()

    def generation(self) -> int:
        value: int = self.apps_api.read_namespaced_deployment(
            APP, self.namespace
        ).metadata.generation
        return value

    def restart_annotation(self) -> str | None:
        template = self.apps_api.read_namespaced_deployment(APP, self.namespace).spec.template
        return (template.metadata.annotations or {}).get(RESTART_ANNOTATION)

    def configs(self) -> list[dict[str, Any]]:
        status = get_rollout(self.custom_api, self.namespace, APP).get("status") or {}
        return list(status.get("configs") or [])

    def recorded(self) -> dict[str, dict[str, Any]]:
        """status.configs keyed by ``Kind/name``."""
        return {f"{c['kind']}/{c['name']}": c for c in self.configs()}

    def settled(self, timeout: float = 120) -> dict[str, Any]:
        """Succeeded at the Rollout's current generation: nothing pending."""
        return wait_phase(self.custom_api, self.namespace, APP, "Succeeded", timeout=timeout)

    def wait_recorded(self, check: Callable[[dict[str, dict[str, Any]]], bool], what: str) -> dict[str, dict[str, Any]]:  # fmt: skip
        """Wait until status.configs (by ``Kind/name``) satisfies `check` at the current generation."""

        def probe() -> Observed:
            body = get_rollout(self.custom_api, self.namespace, APP)
            status = body.get("status") or {}
            recorded = {f"{c['kind']}/{c['name']}": c for c in status.get("configs") or []}
            current = status.get("observedGeneration") == body["metadata"]["generation"]
            return Observed(current and check(recorded), recorded)

        result: Observed = wait_for(probe, timeout=60, what=what)
        value: dict[str, dict[str, Any]] = result.value
        return value

    def restart_messages(self) -> list[tuple[str, str]]:
        """(uid, message) of every RestartTriggered Event on the Rollout."""
        events = self.core_api.list_namespaced_event(
            self.namespace,
            field_selector=f"involvedObject.kind=Rollout,involvedObject.name={APP}",
        ).items
        return [(e.metadata.uid, e.message) for e in events if e.reason == "RestartTriggered"]

    def wait_restart(self, generation: int) -> str:
        """Wait for the restart that makes the generation `generation`; its Event's message.

        The Event follows the status write of the restart, so Succeeded seen after it is the
        restarted rollout's. Fails on a second restart or a second new RestartTriggered Event.
        """
        wait_for(lambda: Observed(self.generation() >= generation, self.generation()),
                 timeout=60, what=f"generation {generation}")  # fmt: skip

        def new_events() -> Observed:
            fresh = [(u, m) for u, m in self.restart_messages() if u not in self.seen_events]
            return Observed(len(fresh) >= 1, fresh)

        wait_for(new_events, timeout=30, what="a RestartTriggered Event")
        self.settled()
        assert self.generation() == generation, "more than one restart"
        fresh = [(u, m) for u, m in self.restart_messages() if u not in self.seen_events]
        assert len(fresh) == 1, fresh
        self.seen_events.add(fresh[0][0])
        return fresh[0][1]


def names_only(message: str, changed: Sequence[str], unchanged: Sequence[str]) -> bool:
    """The restart message names every object in `changed` and none in `unchanged`."""
    return all(c in message for c in changed) and not any(u in message for u in unchanged)


@pytest.fixture
def app(
    operator: OperatorProcess, namespace: str, apps_api: client.AppsV1Api,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi,
) -> Workload:  # fmt: skip
    """Observer of Deployment `app` and Rollout `app` in the test's namespace (operator running)."""
    return Workload(namespace, apps_api, core_api, custom_api)


# Rows ---------------------------------------------------------------------------------------
def test_adding_and_removing_references_restarts_nothing_and_messages_name_only_changes(
    app: Workload, kubectl: Kubectl, namespace: str
):
    w = app
    for name in ("a", "b", "c"):
        kubectl.apply(configmap(name, {"k": "1"}), namespace)
    kubectl.apply(deployment(), namespace)
    kubectl.apply(rollout(config_maps=["a"]), namespace)
    w.settled()
    start = w.generation()

    kubectl.apply(rollout(config_maps=["a", "b"]), namespace)  # added: a baseline
    w.wait_recorded(lambda r: set(r) == {"ConfigMap/a", "ConfigMap/b"}, "b recorded")
    kubectl.apply(rollout(config_maps=["b"]), namespace)  # removed
    w.wait_recorded(lambda r: set(r) == {"ConfigMap/b"}, "a dropped")
    assert w.generation() == start
    assert w.restart_annotation() is None

    kubectl.apply(configmap("a", {"k": "2"}), namespace)  # no longer referenced
    kubectl.apply(configmap("b", {"k": "2"}), namespace)
    message = w.wait_restart(start + 1)
    assert names_only(message, ["ConfigMap/b"], ["ConfigMap/a", "ConfigMap/c"]), message

    kubectl.apply(rollout(config_maps=["a", "b", "c"]), namespace)
    w.wait_recorded(lambda r: len(r) == 3, "a and c recorded")
    assert w.generation() == start + 1
    kubectl.apply(configmap("c", {"k": "2"}), namespace)
    message = w.wait_restart(start + 2)
    assert names_only(message, ["ConfigMap/c"], ["ConfigMap/a", "ConfigMap/b"]), message


def test_metadata_only_changes_restart_nothing(app: Workload, kubectl: Kubectl, namespace: str):
    w = app
    kubectl.apply(configmap("a", {"k": "1"}), namespace)
    kubectl.apply(configmap("b", {"k": "1"}), namespace)
    kubectl.apply(deployment(), namespace)
    kubectl.apply(rollout(config_maps=["a", "b"]), namespace)
    w.settled()
    before = w.wait_recorded(lambda r: len(r) == 2, "both recorded")["ConfigMap/a"]
    start = w.generation()

    kubectl("label", "configmap/a", "-n", namespace, "touched=yes", check=True)
    kubectl("annotate", "configmap/a", "-n", namespace, "note=x", check=True)
    kubectl.apply(configmap("a", {"k": "1"}, annotations={"note": "y"}), namespace)  # same data
    # Barrier: an edit on the same watch stream, after those.
    kubectl.apply(configmap("b", {"k": "2"}), namespace)
    message = w.wait_restart(start + 1)
    assert names_only(message, ["ConfigMap/b"], ["ConfigMap/a"]), message
    assert w.recorded()["ConfigMap/a"]["hash"] == before["hash"]


def _delete_and_recreate(immutable: bool, kubectl: Kubectl, namespace: str, w: Workload) -> None:
    kubectl.apply(configmap("a", {"k": "1"}, immutable=immutable), namespace)
    kubectl.apply(deployment(volumes=[config_volume("a")]), namespace)
    kubectl.apply(rollout(config_maps=["a"]), namespace)
    w.settled()
    recorded = w.wait_recorded(lambda r: "ConfigMap/a" in r, "a recorded")["ConfigMap/a"]
    start = w.generation()

    for data, restarts in (({"k": "1"}, 0), ({"k": "2"}, 1)):
        kubectl("delete", "configmap/a", "-n", namespace, "--wait=true", check=True)
        blocked = wait_phase(w.custom_api, namespace, APP, "Blocked", reason="ConfigNotFound")
        assert 'ConfigMap "a"' in blocked["status"]["message"]
        # While it is missing, the record is kept.
        assert w.recorded()["ConfigMap/a"]["hash"] == recorded["hash"]
        kubectl.apply(configmap("a", data, immutable=immutable), namespace)
        if restarts:
            message = w.wait_restart(start + 1)
            assert "ConfigMap/a" in message
        else:
            w.settled()  # barrier: Blocked -> Succeeded means the re-creation was seen
            assert w.generation() == start
            assert w.restart_annotation() is None
    assert w.recorded()["ConfigMap/a"]["hash"] != recorded["hash"]


def test_delete_and_recreate_restarts_only_for_different_content(
    app: Workload, kubectl: Kubectl, namespace: str
):
    _delete_and_recreate(False, kubectl, namespace, app)


def test_immutable_configmap_changes_only_by_recreation_and_restarts_once(
    app: Workload, kubectl: Kubectl, namespace: str
):
    _delete_and_recreate(True, kubectl, namespace, app)
    refused = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(
        configmap("a", {"k": "3"}, immutable=True)))  # fmt: skip
    assert refused.returncode != 0
    assert "immutable" in refused.stderr


def test_optional_reference_missing_is_no_error_and_its_creation_restarts_once(
    app: Workload, kubectl: Kubectl, namespace: str
):
    w = app
    kubectl.apply(configmap("a", {"k": "1"}), namespace)
    # `late` is referenced but opted out for now: un-ignoring it later is a barrier.
    kubectl.apply(configmap("late", {"k": "1"}, annotations={IGNORE_ANNOTATION: "true"}), namespace)
    kubectl.apply(
        deployment(
            volumes=[config_volume("a"), config_volume("late")],
            env_from=[{"configMapRef": {"name": "opt", "optional": True}}],
        ),
        namespace,
    )
    kubectl.apply(rollout(auto={"configMaps": True}), namespace)
    w.settled()  # not Blocked
    recorded = w.wait_recorded(lambda r: len(r) == 2, "both recorded")
    assert "hash" not in recorded["ConfigMap/opt"]  # recorded absent
    start = w.generation()

    kubectl.apply(configmap("opt", {"level": "debug"}), namespace)
    message = w.wait_restart(start + 1)
    assert names_only(message, ["ConfigMap/opt"], ["ConfigMap/a"]), message
    assert "hash" in w.recorded()["ConfigMap/opt"]

    # Deleted: its record is kept (the barrier: `late` un-ignored after it, same watch stream)...
    kubectl("delete", "configmap/opt", "-n", namespace, "--wait=true", check=True)
    kubectl("annotate", "configmap/late", "-n", namespace, f"{IGNORE_ANNOTATION}-", check=True)
    recorded = w.wait_recorded(lambda r: "ConfigMap/late" in r, "late recorded")
    assert "hash" in recorded["ConfigMap/opt"], recorded
    assert w.generation() == start + 1
    # ...so re-created with equal content, it restarts nothing.
    kubectl.apply(configmap("opt", {"level": "debug"}), namespace)
    kubectl.apply(configmap("a", {"k": "2"}), namespace)  # barrier, same watch stream
    message = w.wait_restart(start + 2)
    assert names_only(message, ["ConfigMap/a"], ["ConfigMap/opt"]), message

    # Deleted, then a restart for another object: from then on it is recorded absent...
    kubectl("delete", "configmap/opt", "-n", namespace, "--wait=true", check=True)
    kubectl.apply(configmap("a", {"k": "3"}), namespace)
    message = w.wait_restart(start + 3)
    assert names_only(message, ["ConfigMap/a"], ["ConfigMap/opt"]), message
    w.wait_recorded(lambda r: "hash" not in r["ConfigMap/opt"], "opt recorded absent")
    # ...so the same content coming back is new to the pods: one restart.
    kubectl.apply(configmap("opt", {"level": "debug"}), namespace)
    message = w.wait_restart(start + 4)
    assert names_only(message, ["ConfigMap/opt"], ["ConfigMap/a"]), message


def test_required_discovered_reference_missing_blocks_then_is_a_baseline(
    app: Workload, kubectl: Kubectl, namespace: str
):
    w = app
    kubectl.apply(deployment(env_from=[{"configMapRef": {"name": "late"}}]), namespace)
    start = w.generation()
    kubectl.apply(rollout(auto={"configMaps": True}), namespace)
    blocked = wait_phase(app.custom_api, namespace, APP, "Blocked", reason="ConfigNotFound")
    assert 'ConfigMap "late"' in blocked["status"]["message"]
    assert "containers[app].envFrom" in blocked["status"]["message"]

    kubectl.apply(configmap("late", {"k": "1"}), namespace)
    w.settled()
    w.wait_recorded(lambda r: "hash" in r.get("ConfigMap/late", {}), "late recorded")
    assert w.generation() == start
    assert w.restart_annotation() is None


def test_changes_while_the_operator_is_down_restart_once_at_start(
    app: Workload, operator: OperatorProcess, kubectl: Kubectl, namespace: str
):
    w = app
    kubectl.apply(configmap("a", {"k": "1"}), namespace)
    kubectl.apply(configmap("b", {"k": "1"}), namespace)
    kubectl.apply(deployment(), namespace)
    kubectl.apply(rollout(config_maps=["a", "b"]), namespace)
    w.settled()
    w.wait_recorded(lambda r: len(r) == 2, "both recorded")
    start = w.generation()
    operator.stop()
    try:
        kubectl.apply(configmap("a", {"k": "2"}), namespace)
        kubectl.apply(configmap("a", {"k": "3"}), namespace)
    finally:
        operator.start()
    message = w.wait_restart(start + 1)
    assert names_only(message, ["ConfigMap/a"], ["ConfigMap/b"]), message
    # Barrier against a second, late start-up restart: the next restart is b's, alone.
    kubectl.apply(configmap("b", {"k": "2"}), namespace)
    message = w.wait_restart(start + 2)
    assert names_only(message, ["ConfigMap/b"], ["ConfigMap/a"]), message


def test_crash_between_restart_and_status_write_does_not_restart_twice(
    app: Workload, operator: OperatorProcess, kubectl: Kubectl, namespace: str
):
    w = app
    kubectl.apply(configmap("a", {"k": "A"}), namespace)
    kubectl.apply(deployment(), namespace)
    kubectl.apply(rollout(config_maps=["a"]), namespace)
    w.settled()
    start = w.generation()
    kubectl.apply(configmap("a", {"k": "B"}), namespace)
    w.wait_restart(start + 1)
    annotation_b = w.restart_annotation()
    hash_b = w.wait_recorded(lambda r: True, "B recorded")["ConfigMap/a"]["hash"]
    kubectl.apply(configmap("a", {"k": "A"}), namespace)
    w.wait_restart(start + 2)
    w.wait_recorded(lambda r: r["ConfigMap/a"]["hash"] != hash_b, "A recorded")

    # The state a crash right after the restart patch leaves: content B, the workload
    # annotated for B, status still recording A.
    operator.stop()
    try:
        kubectl.apply(configmap("a", {"k": "B"}), namespace)
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: annotation_b}}}}}  # fmt: skip
        kubectl("patch", "deployment", APP, "-n", namespace, "-p", json.dumps(patch), check=True)  # fmt: skip
    finally:
        operator.start()
    w.wait_recorded(lambda r: r["ConfigMap/a"]["hash"] == hash_b, "B recorded after start")
    w.settled()
    assert w.generation() == start + 3  # our patch only
    assert w.restart_annotation() == annotation_b
    # Barrier: the next edit's restart must be the only new RestartTriggered Event (the
    # same annotation written again would restart no pods, but would claim a restart).
    kubectl.apply(configmap("a", {"k": "C"}), namespace)
    w.wait_restart(start + 4)
