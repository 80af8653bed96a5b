"""The Helm chart and the monitoring assets against the real API server.

`helm template` of every install mode must be accepted by `kubectl apply --dry-run=server`
(schema, RBAC escalation and admission checks all run; nothing is stored), and a real
`helm install` / `upgrade` / `uninstall` must create, change and remove exactly the
release's objects while keeping the CRD (and so every Rollout).

On the local cluster's real node (tests/cluster/realnode.sh, see incluster.py) the chart's
operator runs from `make image`'s image in a real pod: installed with only the image and
the pods' placement set, it holds the Lease (leader election is on in every install) and
rolls a Rollout out; upgraded to HA with a plain `helm upgrade --set ha.enabled=true`, as
docs/install.md says, during which Kubernetes runs up to four operator pods, no pod but the
Lease holder ever reports `rollout_operator_leader 1` and a Rollout changed meanwhile is
applied once; afterwards one of the two pods holds the Lease and alone applies the next
change; uninstalled, it leaves the CRD, the Rollouts and its runtime Lease behind
(docs/install.md says so too).

prometheus-operator's CRDs (ServiceMonitor, PrometheusRule) come from
tests/e2e/testdata/prometheus-operator-crds.yaml, copied from its Go module.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from prometheus_client.parser import text_string_to_metric_families

from .incluster import REAL_NODE_KEY, kget, pod_ready, restarts, started
from .kube import Kubectl, Observed, make_deployment, wait_for
from .operator_process import LOG_DIR, REPO
from .rollouts import make_rollout, wait_phase

CHART = REPO / "charts" / "rollout-operator"
TESTDATA = Path(__file__).parent / "testdata"
MONITORING_CRDS = TESTDATA / "prometheus-operator-crds.yaml"
BUILD_SH = REPO / "tests" / "cluster" / "build.sh"


class Helm:
    """helm against the test cluster, with its config, cache and data in a temp dir."""

    def __init__(self, binary: Path, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=600,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
        return result

    def template(self, release: str, namespace: str, values: Sequence[str]) -> str:
        sets = [arg for value in values for arg in ("--set", value)]
        return self(
            "template", release, str(CHART), "--namespace", namespace, "--include-crds", *sets
        ).stdout


@pytest.fixture(scope="session")
def helm(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    built = subprocess.run(
        [str(BUILD_SH), "helm"], capture_output=True, text=True, timeout=3600, check=False
    )
    assert built.returncode == 0, built.stderr
    binary = Path(built.stdout.strip().splitlines()[-1]) / "helm"
    return Helm(binary, kubeconfig, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def monitoring_crds(kubectl: Kubectl) -> Iterator[None]:
    """prometheus-operator's ServiceMonitor and PrometheusRule CRDs, for this module only."""
    result = kubectl("apply", "--server-side", "-f", str(MONITORING_CRDS))
    assert result.returncode == 0, result.stderr
    for crd in ("servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s", check=True)
    try:
        yield
    finally:
        kubectl("delete", "-f", str(MONITORING_CRDS), "--wait=false")


def dry_run(kubectl: Kubectl, manifest: str, namespace: str) -> str:
    result = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest)
    assert result.returncode == 0, f"{result.stderr}\n{manifest}"
    return result.stdout


MODES = {
    "default": [],
    "secrets": ["secrets.enabled=true"],
    "ha": ["ha.enabled=true"],
    "namespaced": ["watchNamespaces={NS}"],
    "everything": [
        "secrets.enabled=true",
        "ha.enabled=true",
        "watchNamespaces={NS}",
        "metrics.serviceMonitor.enabled=true",
        "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring",
    ],
}


@pytest.mark.compat
@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_is_accepted_by_the_api_server(
    helm: Helm, kubectl: Kubectl, namespace: str, monitoring_crds: None, mode: str
) -> None:
    values = [value.replace("NS", namespace) for value in MODES[mode]]
    manifest = helm.template("rollout-operator", namespace, values)
    kinds = {doc["kind"] for doc in yaml.safe_load_all(manifest) if doc}
    assert {"CustomResourceDefinition", "Deployment", "ValidatingAdmissionPolicy"} <= kinds
    out = dry_run(kubectl, manifest, namespace)
    assert "deployment.apps/rollout-operator" in out
    assert "(server dry run)" in out


def test_monitoring_rules_are_accepted_by_the_api_server(
    kubectl: Kubectl, namespace: str, monitoring_crds: None
) -> None:
    out = dry_run(kubectl, (REPO / "monitoring" / "prometheusrule.yaml").read_text(), namespace)
    assert "prometheusrule.monitoring.coreos.com/rollout-operator" in out


def _release_objects(kubectl: Kubectl, release: str) -> list[str]:
    """Every object labelled as this release's, cluster-scoped ones included."""
    kinds = (
        "deployments,services,serviceaccounts,roles,rolebindings,networkpolicies,"
        "poddisruptionbudgets,clusterroles,clusterrolebindings,"
        "validatingadmissionpolicies,validatingadmissionpolicybindings"
    )
    result = kubectl(
        "get", kinds, "-A", "-l", f"app.kubernetes.io/instance={release}", "-o", "name"
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def _deployment(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    result = kubectl("get", "deployment", name, "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    return body


@pytest.fixture
def release(helm: Helm, namespace: str) -> Iterator[str]:
    """A release name of its own (cluster-scoped names differ from the session's install),
    uninstalled afterwards whatever happened."""
    name = f"e2e-{secrets.token_hex(3)}"
    try:
        yield name
    finally:
        helm("uninstall", name, "--namespace", namespace, "--ignore-not-found", check=False)


def test_install_upgrade_uninstall(
    helm: Helm, kubectl: Kubectl, namespace: str, release: str
) -> None:
    fullname = f"{release}-rollout-operator"
    installed = helm(
        "install", release, str(CHART), "--namespace", namespace,
        "--set", f"watchNamespaces={{{namespace}}}", "--wait", "--timeout", "180s",
    )  # fmt: skip
    assert "STATUS: deployed" in installed.stdout
    objects = _release_objects(kubectl, release)
    assert f"deployment.apps/{fullname}" in objects
    assert f"role.rbac.authorization.k8s.io/{fullname}" in objects
    policies = [o.split("/")[0] for o in objects if o.startswith("validatingadmissionpolicy")]
    assert sorted(set(policies)) == [
        "validatingadmissionpolicy.admissionregistration.k8s.io",
        "validatingadmissionpolicybinding.admissionregistration.k8s.io",
    ]
    assert not any(o.startswith("clusterrolebinding") for o in objects)  # namespaced mode
    account = f"system:serviceaccount:{namespace}:{fullname}"
    can = kubectl("auth", "can-i", "get", "secrets", "-n", namespace, "--as", account)
    assert can.stdout.strip() == "no"

    helm(
        "upgrade", release, str(CHART), "--namespace", namespace, "--reuse-values",
        "--set", "secrets.enabled=true", "--wait", "--timeout", "180s",
    )  # fmt: skip
    deployment = _deployment(kubectl, namespace, fullname)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--enable-secrets" in container["args"]
    assert f"--namespace={namespace}" in container["args"]  # --reuse-values kept it
    can = kubectl("auth", "can-i", "get", "secrets", "-n", namespace, "--as", account)
    assert can.stdout.strip() == "yes"
    history = helm("history", release, "--namespace", namespace, "-o", "json")
    assert [entry["status"] for entry in json.loads(history.stdout)] == ["superseded", "deployed"]

    helm("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "120s")
    wait_for(
        lambda: Observed(
            not _release_objects(kubectl, release), _release_objects(kubectl, release)
        ),
        timeout=60,
        what="the release's objects to be gone",
    )
    # Helm never deletes CRDs: every Rollout in the cluster survives an uninstall.
    kept = kubectl("get", "crd", "rollouts.rollout-operator.dev")
    assert kept.returncode == 0, kept.stderr


# -- on the real node: the chart's operator at work ------------------------------------


def _real_node_values(image: str, path: Path) -> Path:
    """The values a user of this cluster would write: the image, and the operator's pods
    on the real node (its label and its taint). Nothing else."""
    repository, _, tag = image.rpartition(":")
    values = {
        "image": {"repository": repository, "tag": tag},
        "nodeSelector": {REAL_NODE_KEY: "true"},
        "tolerations": [{"key": REAL_NODE_KEY, "operator": "Exists", "effect": "NoSchedule"}],
    }
    path.write_text(yaml.safe_dump(values))
    return path


def _operator_pods(kubectl: Kubectl, namespace: str, release: str) -> list[dict[str, Any]]:
    """The release's operator pods, terminating ones included."""
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator"
    pods: list[dict[str, Any]] = kget(kubectl, "pods", "-n", namespace, "-l", selector)["items"]
    return pods


def _wait_operator(
    kubectl: Kubectl, namespace: str, release: str, count: int
) -> list[dict[str, Any]]:
    """Exactly `count` operator pods, all started and Ready (/readyz), none terminating:
    after an upgrade, the old pods are gone too."""

    def check() -> Observed:
        pods = _operator_pods(kubectl, namespace, release)
        ok = len(pods) == count and all(
            started(p) and pod_ready(p) and not p["metadata"].get("deletionTimestamp") for p in pods
        )
        summary = [(p["metadata"]["name"], p["spec"].get("nodeName"), restarts(p)) for p in pods]
        return Observed(ok, pods if ok else summary)

    result: Observed = wait_for(check, timeout=180, what=f"{count} operator pod(s) Ready")
    pods: list[dict[str, Any]] = result.value
    return pods


def _describe(kubectl: Kubectl, namespace: str, release: str) -> str:
    """The operator pods' placement and last log lines, for a failure message (and kept in
    the e2e log dir)."""
    lines = []
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for pod in _operator_pods(kubectl, namespace, release):
        name = pod["metadata"]["name"]
        logs = kubectl("logs", "-n", namespace, name, "--tail=200", "--all-containers")
        (LOG_DIR / f"helm-realnode-{name}.log").write_text(logs.stdout + logs.stderr)
        tail = "\n".join((logs.stdout + logs.stderr).splitlines()[-15:])
        lines.append(f"pod {name}: node {pod['spec'].get('nodeName')}, restarts {restarts(pod)}")
        lines.append(tail)
    return "\n".join(lines) or "no operator pods"


def _lease_holder(kubectl: Kubectl, namespace: str) -> str | None:
    result = kubectl(
        "get", "lease", "rollout-operator", "-n", namespace,
        "-o", "jsonpath={.spec.holderIdentity}",
    )  # fmt: skip
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def _image_updates(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    """Who posted each ImageUpdated Event on Rollout `name` (one per image change started)."""
    events = kget(
        kubectl, "events", "-n", namespace,
        f"--field-selector=involvedObject.kind=Rollout,involvedObject.name={name},reason=ImageUpdated",
    )["items"]  # fmt: skip
    ordered = sorted(events, key=lambda e: e["metadata"]["creationTimestamp"])
    return [str(e.get("reportingInstance")) for e in ordered]


def _metrics(kubectl: Kubectl, namespace: str, pod: str) -> dict[str, float]:
    """The pod's /metrics through the API server's pod proxy: each metric's samples summed."""
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}:8080/proxy/metrics"
    result = kubectl("get", "--raw", path)
    assert result.returncode == 0, result.stderr
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(result.stdout):
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums


def _scale_ups(kubectl: Kubectl, namespace: str, deployment: str) -> dict[str, list[str]]:
    """Each ReplicaSet the Deployment controller scaled up, with its "from A to B" steps."""
    events = kget(
        kubectl, "events", "-n", namespace,
        f"--field-selector=involvedObject.kind=Deployment,involvedObject.name={deployment}",
    )["items"]  # fmt: skip
    steps: dict[str, list[str]] = {}
    for event in sorted(events, key=lambda e: e["metadata"]["creationTimestamp"]):
        found = re.fullmatch(r"Scaled up replica set (\S+) (from \d+ to \d+)", event["message"])
        if found:
            steps.setdefault(found[1], []).append(found[2])
    return steps


def _web(kubectl: Kubectl, namespace: str) -> tuple[int, str]:
    """The target Deployment's generation and image."""
    body = kget(kubectl, "deployment", "web", "-n", namespace)
    (container,) = body["spec"]["template"]["spec"]["containers"]
    return int(body["metadata"]["generation"]), str(container["image"])


def _set_tag(
    kubectl: Kubectl, custom_api: Any, namespace: str, tag: str, updates: int
) -> list[str]:
    """Apply the Rollout with `tag`; wait until it Succeeded and its ImageUpdated Event is
    there (the positive barrier), then return who posted each ImageUpdated Event."""
    kubectl.apply(make_rollout("web", "web", containers=[{"name": "app", "tag": tag}]), namespace)
    wait_phase(custom_api, namespace, "web", "Succeeded", timeout=120)
    found: Observed = wait_for(
        lambda: Observed(
            len(_image_updates(kubectl, namespace, "web")) >= updates,
            _image_updates(kubectl, namespace, "web"),
        ),
        timeout=30,
        what=f"ImageUpdated Event #{updates}",
    )
    reporters: list[str] = found.value
    return reporters


def _lease_epoch(coordination: client.CoordinationV1Api, namespace: str) -> tuple[str, str]:
    """Who holds the Lease and since when ("" when nobody, or no Lease). The same pair before
    and after a look at the pods means no handover happened in between (a new holder always
    changes both; a pod that released the Lease never takes it again: it is stopping)."""
    try:
        lease = coordination.read_namespaced_lease(
            "rollout-operator", namespace, _request_timeout=10
        )
    except ApiException as error:
        if error.status == 404:
            return "", ""
        raise
    return str(lease.spec.holder_identity or ""), str(lease.spec.acquire_time)


def _leader_gauge(core: client.CoreV1Api, namespace: str, pod: str) -> float | None:
    """The pod's rollout_operator_leader through the API server's pod proxy; None when it
    does not answer (starting, or gone)."""
    try:
        response = core.connect_get_namespaced_pod_proxy_with_path(
            f"{pod}:8080", namespace, "metrics", _preload_content=False, _request_timeout=5
        )
        text = response.data.decode()
    except (ApiException, urllib3.exceptions.HTTPError):
        return None
    if getattr(response, "status", 200) != 200:
        return None
    for family in text_string_to_metric_families(text):
        if family.name == "rollout_operator_leader":
            return float(family.samples[0].value)
    return None


def _live_pods(core: client.CoreV1Api, namespace: str, release: str) -> list[str]:
    """The release's operator pods that have an IP (terminating ones included: a pod acts
    until it has stopped)."""
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator"
    pods = core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=10)
    return sorted(p.metadata.name for p in pods.items if p.status and p.status.pod_ip)


def _upgrade_watching_the_leaders(
    helm: Helm, kubectl: Kubectl, core: client.CoreV1Api, namespace: str, release: str,
    change: dict[str, Any],
) -> list[tuple[str, dict[str, float]]]:  # fmt: skip
    """`helm upgrade --reuse-values --set ha.enabled=true --wait`, and from its start until
    only the two HA pods are left (helm returns before the old pods are gone), look again
    and again at every operator pod's rollout_operator_leader and at the Lease: no pod but
    the Lease's holder may report 1. `change` (a Rollout) is applied as soon as two operator
    pods run. Returns the conclusive looks: (holder, {pod: gauge})."""
    coordination = client.CoordinationV1Api(core.api_client)
    command = [
        str(helm.binary), "upgrade", release, str(CHART), "--namespace", namespace,
        "--reuse-values", "--set", "ha.enabled=true", "--wait", "--timeout", "300s",
    ]  # fmt: skip
    upgrade = subprocess.Popen(
        command, env=helm.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    looks: list[tuple[str, dict[str, float]]] = []
    applied = False
    finished_at: float | None = None
    try:
        while True:
            if finished_at is None and upgrade.poll() is not None:
                finished_at = time.monotonic()
            before = _lease_epoch(coordination, namespace)
            pods = _live_pods(core, namespace, release)
            gauges = {
                pod: gauge
                for pod in pods
                if (gauge := _leader_gauge(core, namespace, pod)) is not None
            }
            after = _lease_epoch(coordination, namespace)
            if before == after:  # else a handover came in between: this look proves nothing
                holder = before[0]
                acting = sorted(pod for pod, gauge in gauges.items() if gauge == 1)
                assert acting in ([], [holder]), (
                    f"{acting} report rollout_operator_leader 1 while {holder!r} holds the "
                    f"Lease; every pod: {gauges}"
                )
                looks.append((holder, gauges))
            if not applied and len(pods) >= 2:
                kubectl.apply(change, namespace)
                applied = True
            if finished_at is not None and (upgrade.returncode or len(pods) <= 2):
                break
            if finished_at is not None:
                assert time.monotonic() < finished_at + 180, f"old operator pods stay: {pods}"
    finally:
        try:
            _, err = upgrade.communicate(timeout=360)
        except subprocess.TimeoutExpired:
            upgrade.kill()
            _, err = upgrade.communicate()
    assert upgrade.returncode == 0, f"helm upgrade:\n{err}"
    assert applied, "the Rollout change was never applied: never two operator pods"
    return looks


@pytest.mark.usefixtures("local_operator_paused")
def test_chart_on_the_real_node_installs_upgrades_to_ha_and_uninstalls(
    helm: Helm, kubectl: Kubectl, namespace: str, release: str, operator_image: str,
    real_node: str, custom_api: Any, core_api: client.CoreV1Api, tmp_path: Path,
) -> None:  # fmt: skip
    values = _real_node_values(operator_image, tmp_path / "values.yaml")
    wait = ("--wait", "--timeout", "300s")
    try:
        # Install: one pod, on the real node, from the image, Ready; it holds the Lease
        # (leader election is on without HA too) and rolls a Rollout out.
        helm("install", release, str(CHART), "--namespace", namespace, "-f", str(values), *wait)
        (pod,) = _wait_operator(kubectl, namespace, release, 1)
        first = pod["metadata"]["name"]
        assert pod["spec"]["nodeName"] == real_node, pod["spec"].get("nodeName")
        assert pod["spec"]["containers"][0]["image"] == operator_image
        wait_for(
            lambda: Observed(
                _lease_holder(kubectl, namespace) == first, _lease_holder(kubectl, namespace)
            ),
            timeout=60,
            what=f"{first} holding the Lease",
        )
        kubectl.apply(make_deployment("web", replicas=2), namespace)
        assert _set_tag(kubectl, custom_api, namespace, "v2", 1) == [first]
        assert _web(kubectl, namespace) == (2, "registry.local/e2e/app:v2")

        # Upgrade to HA with a plain `helm upgrade`, as docs/install.md says. The Deployment
        # controller first scales the old ReplicaSet up to 2, then rolls: three operator
        # pods, plus old ones still stopping, run at once. Throughout, only the Lease holder may report
        # rollout_operator_leader 1, and a Rollout changed meanwhile is applied once.
        fullname = f"{release}-rollout-operator"
        standalone = f"{fullname}-{pod['metadata']['labels']['pod-template-hash']}"
        change = make_rollout("web", "web", containers=[{"name": "app", "tag": "v3"}])
        looks = _upgrade_watching_the_leaders(helm, kubectl, core_api, namespace, release, change)
        pods = _wait_operator(kubectl, namespace, release, 2)
        names = {p["metadata"]["name"] for p in pods}
        assert {p["spec"]["nodeName"] for p in pods} == {real_node}
        ha = f"{fullname}-{pods[0]['metadata']['labels']['pod-template-hash']}"
        steps: Observed = wait_for(
            lambda: Observed(
                ha in _scale_ups(kubectl, namespace, fullname),
                _scale_ups(kubectl, namespace, fullname),
            ),
            timeout=30,
            what=f"the Event of {ha}'s scale-up",
        )
        # The window this is about happened: the old ReplicaSet grew to two pods, and
        # the looks above saw at least two operator pods answer at once.
        assert steps.value[standalone] == ["from 0 to 1", "from 1 to 2"], steps.value
        assert any(len(gauges) >= 2 for _, gauges in looks), looks
        report = (
            f"helm upgrade to HA: {len(looks)} conclusive looks, up to "
            f"{max(len(gauges) for _, gauges in looks)} operator pods answering at once, "
            f"holders seen {sorted({holder for holder, _ in looks})}, pods seen reporting 1 "
            f"{sorted({p for _, g in looks for p, v in g.items() if v == 1})}"
        )
        (LOG_DIR / "helm-upgrade-to-ha.txt").write_text(report + "\n")
        print(report)
        # The change made during the upgrade: applied once (one image change, one Event).
        wait_phase(custom_api, namespace, "web", "Succeeded", timeout=120)
        reporters: Observed = wait_for(
            lambda: Observed(
                len(_image_updates(kubectl, namespace, "web")) >= 2,
                _image_updates(kubectl, namespace, "web"),
            ),
            timeout=30,
            what="the ImageUpdated Event of v3",
        )
        assert len(reporters.value) == 2, reporters.value
        assert _web(kubectl, namespace) == (3, "registry.local/e2e/app:v3")

        # Afterwards: one of the two pods holds the Lease and alone applies the next change.
        found: Observed = wait_for(
            lambda: Observed(
                _lease_holder(kubectl, namespace) in names, _lease_holder(kubectl, namespace)
            ),
            timeout=60,
            what="a leader among the upgraded pods",
        )
        leader = found.value
        updates = _set_tag(kubectl, custom_api, namespace, "v4", 3)
        assert updates[:2] == reporters.value
        assert updates[2:] == [leader], updates
        assert _web(kubectl, namespace) == (4, "registry.local/e2e/app:v4")
        (standby,) = names - {leader}
        acted = _metrics(kubectl, namespace, leader)
        idle = _metrics(kubectl, namespace, standby)
        assert (acted["rollout_operator_leader"], idle["rollout_operator_leader"]) == (1, 0)
        # Each pod's image_updates_total counts exactly the Events it posted (the v3 change
        # may have been made by either of them, or by a pod gone since).
        assert acted.get("rollout_operator_image_updates_total", 0) == updates.count(leader)
        assert idle.get("rollout_operator_image_updates_total", 0) == updates.count(standby)
        pods = _wait_operator(kubectl, namespace, release, 2)
        assert all(restarts(p) == 0 for p in pods)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{_describe(kubectl, namespace, release)}") from error

    # Uninstall: the release's objects, pods and Helm's own record go; the CRD, the Rollout
    # (and what it did to the workload) and the operator's runtime Lease stay.
    _describe(kubectl, namespace, release)  # keeps the logs
    records = kget(kubectl, "secrets", "-n", namespace, "-l", f"owner=helm,name={release}")
    assert len(records["items"]) == 2, "Helm's record: one Secret per revision"
    helm("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "120s")
    wait_for(
        lambda: Observed(
            not _release_objects(kubectl, release)
            and not _operator_pods(kubectl, namespace, release),
            _release_objects(kubectl, release),
        ),
        timeout=120,
        what="the release's objects and pods to be gone",
    )
    records = kget(kubectl, "secrets", "-n", namespace, "-l", f"owner=helm,name={release}")
    assert records["items"] == [], "Helm's record of the release"
    assert kubectl("get", "crd", "rollouts.rollout-operator.dev").returncode == 0
    kept = kget(kubectl, "rollouts.rollout-operator.dev", "web", "-n", namespace)
    assert kept["status"]["phase"] == "Succeeded"
    assert _web(kubectl, namespace) == (4, "registry.local/e2e/app:v4")
    # The Lease stays (its holder may or may not have been handed back: the leader's
    # release on SIGTERM races Helm's deletion of the Role that allows it).
    lease = kubectl("get", "lease", "rollout-operator", "-n", namespace)
    assert lease.returncode == 0, lease.stderr
