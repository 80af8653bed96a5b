"""The Helm chart (charts/rollout-operator): versioned with the app, lint-clean, and equal to
the kustomize overlays where it matters, so the two install paths cannot drift.

For each install mode the chart is rendered with ``helm template`` and the matching
overlay with ``kubectl kustomize``; then the operator's effective permissions (what its
ServiceAccount may do, and where), the Deployment (container, args, env, probes, security
context, strategy), the Service, PodDisruptionBudget, NetworkPolicy and admission policy
must be the same. helm is built from its pinned Go module by ``tests/cluster/build.sh helm``
(about two minutes the first time, then reused); kubectl is the cluster's (or on PATH).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "rollout-operator"
CLUSTER_DIR = REPO / "tests" / "cluster"
NAMESPACE = "rollout-operator-system"
RELEASE = "rollout-operator"  # a release of this name gets the names of manifests/
ACCOUNT = (NAMESPACE, "rollout-operator")

Objects = list[dict[str, Any]]
Grant = tuple[str, str, str, str, str]  # scope (namespace or "*"), group, resource, verb, name

ALL_MODES = ["secrets.enabled=true", "ha.enabled=true", f"watchNamespaces={{{NAMESPACE}}}"]
# install mode -> (helm --set values, kustomize directory relative to the copied tree)
MODES: dict[str, tuple[list[str], str]] = {
    "default": ([], "manifests"),
    "secrets": (["secrets.enabled=true"], "manifests/overlays/secrets"),
    "ha": (["ha.enabled=true"], "manifests/overlays/ha"),
    "namespaced": ([f"watchNamespaces={{{NAMESPACE}}}"], "manifests/overlays/namespaced"),
    "namespaced-secrets-ha": (ALL_MODES, "manifests/overlays/namespaced-secrets-ha"),
}
COMBINED_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../namespaced
components:
  - ../../components/secrets
  - ../../components/ha
"""
DOWNWARD_ENV = {
    "POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
    "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
}
# Kinds only one side has: helm creates no Namespace (helm install --create-namespace) and
# installs CRDs from crds/ (compared byte for byte below), not from templates.
NOT_COMPARED = {"Namespace", "CustomResourceDefinition"}


def _versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in (CLUSTER_DIR / "versions.env").read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            versions[key] = value.strip().strip('"')
    return versions


def _cache_bin() -> Path:
    versions = _versions()
    root = os.environ.get("ROLLOUT_OPERATOR_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rollout-operator"
    )
    name = "k8s-{KUBE_VERSION}-etcd-{ETCD_VERSION}-kwok-{KWOK_VERSION}".format(**versions)
    return Path(root) / name / "bin"


def _build(*args: str) -> Path:
    """tests/cluster/build.sh [args]: builds what is missing, returns the bin directory."""
    proc = subprocess.run(
        [str(CLUSTER_DIR / "build.sh"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    assert proc.returncode == 0, f"tests/cluster/build.sh {' '.join(args)}:\n{proc.stderr}"
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def helm() -> str:
    return str(_build("helm") / "helm")


@pytest.fixture(scope="session")
def kubectl() -> str:
    cached = _cache_bin() / "kubectl"
    if cached.is_file():
        return str(cached)
    return shutil.which("kubectl") or str(_build() / "kubectl")


def render_chart(helm: str, values: Sequence[str], namespace: str = NAMESPACE) -> Objects:
    command = [helm, "template", RELEASE, str(CHART), "--namespace", namespace]
    for value in values:
        command += ["--set", value]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, f"helm template {values}:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="session")
def kustomized(kubectl: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Objects]:
    root = tmp_path_factory.mktemp("kustomize")
    shutil.copytree(REPO / "manifests", root / "manifests")
    shutil.copytree(REPO / "crds", root / "crds")
    combined = root / MODES["namespaced-secrets-ha"][1]
    combined.mkdir(parents=True)
    (combined / "kustomization.yaml").write_text(COMBINED_OVERLAY)
    rendered = {}
    for mode, (_, directory) in MODES.items():
        proc = subprocess.run(
            [kubectl, "kustomize", str(root / directory)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, f"kubectl kustomize {directory}:\n{proc.stderr}"
        rendered[mode] = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    return rendered


@pytest.fixture(scope="session")
def charted(helm: str) -> dict[str, Objects]:
    return {mode: render_chart(helm, values) for mode, (values, _) in MODES.items()}


def _of_kind(objects: Iterable[dict[str, Any]], *kinds: str) -> Objects:
    return [obj for obj in objects if obj["kind"] in kinds]


def _one(objects: Objects, kind: str) -> dict[str, Any]:
    found = _of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def permissions(objects: Objects, account: tuple[str, str] = ACCOUNT) -> set[Grant]:
    """What `account` may do, flattened: (scope, group, resource, verb, resourceName)."""
    roles = {
        (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]): obj
        for obj in _of_kind(objects, "ClusterRole", "Role")
    }
    grants: set[Grant] = set()
    for binding in _of_kind(objects, "ClusterRoleBinding", "RoleBinding"):
        subjects = {
            (s.get("namespace", ""), s["name"])
            for s in binding.get("subjects", [])
            if s["kind"] == "ServiceAccount"
        }
        if account not in subjects:
            continue
        scope = binding["metadata"].get("namespace", "*")
        ref = binding["roleRef"]
        key = (ref["kind"], "" if ref["kind"] == "ClusterRole" else scope, ref["name"])
        assert key in roles, f"{binding['kind']} {binding['metadata']['name']} binds missing {key}"
        for rule in roles[key].get("rules", []):
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        for name in rule.get("resourceNames") or ["*"]:
                            grants.add((scope, group, resource, verb, name))
    return grants


def aggregated_rules(objects: Objects) -> dict[str, Any]:
    """People's aggregated ClusterRoles (view/edit), by aggregation labels."""
    out = {}
    for role in _of_kind(objects, "ClusterRole"):
        labels = sorted(
            key for key in role["metadata"].get("labels", {}) if "/aggregate-to-" in key
        )
        if labels:
            out[",".join(labels)] = role["rules"]
    return out


def _args(container: dict[str, Any], namespace: str = NAMESPACE) -> list[str]:
    """The operator's flags, order aside; kustomize's $(POD_NAMESPACE) is the namespace."""
    return sorted(arg.replace("$(POD_NAMESPACE)", namespace) for arg in container["args"])


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _without_selectors(value: Any) -> Any:
    """Affinity with labelSelectors removed (the chart's also select the release)."""
    if isinstance(value, dict):
        return {k: _without_selectors(v) for k, v in value.items() if k != "labelSelector"}
    if isinstance(value, list):
        return [_without_selectors(v) for v in value]
    return value


def deployment_view(objects: Objects) -> dict[str, Any]:
    """The parts of the operator Deployment that must not differ between install paths."""
    deployment = _one(objects, "Deployment")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    pod_spec = {k: v for k, v in pod["spec"].items() if k not in ("containers", "affinity")}
    return {
        "replicas": deployment["spec"].get("replicas", 1),
        "strategy": deployment["spec"].get("strategy"),
        "annotations": pod["metadata"].get("annotations"),
        "pod": pod_spec,
        "affinity": _without_selectors(pod["spec"].get("affinity")),
        "container": {k: v for k, v in container.items() if k not in ("args", "env")},
        "args": _args(container),
        "env": _env(container),
    }


def _spec_without_selector(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj["spec"].items() if k not in ("selector", "podSelector")}


def _kinds(objects: Objects) -> set[str]:
    return {obj["kind"] for obj in objects} - NOT_COMPARED


# --- version, pins, CRDs ----------------------------------------------------------------


def test_chart_is_versioned_with_the_app() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert (chart["version"], str(chart["appVersion"])) == (version, version)


def test_helm_is_the_pinned_version(helm: str) -> None:
    pinned = _versions()["HELM_VERSION"]
    go_mod = (CLUSTER_DIR / "tools" / "helm" / "go.mod").read_text()
    assert re.search(rf"^require helm\.sh/helm/v4 {re.escape(pinned)}$", go_mod, re.M), pinned
    proc = subprocess.run(
        [helm, "version", "--template", "{{.Version}}"], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == pinned


def test_chart_crds_are_the_repo_crds() -> None:
    ours = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    repo = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    repo.pop("kustomization.yaml", None)
    assert ours.keys() == repo.keys()
    stale = [name for name in repo if ours[name] != repo[name]]
    assert not stale, f"charts/rollout-operator/crds/ is stale: cp crds/{stale[0]} {CHART}/crds/"


def test_chart_admission_policy_is_the_manifests_copy() -> None:
    ours = {p.name: p.read_bytes() for p in (CHART / "files").glob("validatingadmissionpolicy*")}
    manifests = REPO / "manifests" / "admission"
    theirs = {p.name: p.read_bytes() for p in manifests.glob("validatingadmissionpolicy*")}
    assert theirs, "manifests/admission/ has no ValidatingAdmissionPolicy"
    assert ours == theirs, (
        f"stale copy: cp manifests/admission/validatingadmissionpolicy*.yaml {CHART}/files/"
    )


# --- lint and values -------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
def test_helm_lint(helm: str, mode: str) -> None:
    command = [helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE]
    for value in MODES[mode][0]:
        command += ["--set", value]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_rejects_misspelled_values(helm: str) -> None:
    proc = subprocess.run(
        [helm, "template", RELEASE, str(CHART), "--set", "watchNamespace={a}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "watchNamespace" in proc.stderr


def test_schema_checks_node_placement(helm: str) -> None:
    """nodeSelector values must be strings (`--set x=true` gives a boolean that the API server
    would reject only at install time) and tolerations only Kubernetes' fields."""

    def template(*args: str) -> subprocess.CompletedProcess[str]:
        command = [helm, "template", RELEASE, str(CHART), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)

    boolean = template("--set", r"nodeSelector.example\.com/real=true")
    assert boolean.returncode != 0
    assert "/nodeSelector/example.com~1real" in boolean.stderr
    misspelled = template("--set", "tolerations[0].effects=NoSchedule")
    assert misspelled.returncode != 0
    assert "effects" in misspelled.stderr
    placed = template(
        "--set-string", r"nodeSelector.example\.com/real=true",
        "--set", "tolerations[0].key=example.com/real", "--set", "tolerations[0].operator=Exists",
        "--set", "tolerations[0].effect=NoSchedule",
    )  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    deployment = _one([d for d in yaml.safe_load_all(placed.stdout) if d], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"example.com/real": "true"}
    assert pod["tolerations"] == [
        {"key": "example.com/real", "operator": "Exists", "effect": "NoSchedule"}
    ]


# --- the chart equals the kustomize overlays ---------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
def test_same_objects_as_kustomize(
    charted: dict[str, Objects], kustomized: dict[str, Objects], mode: str
) -> None:
    assert _kinds(charted[mode]) == _kinds(kustomized[mode])


@pytest.mark.parametrize("mode", list(MODES))
def test_same_operator_permissions_as_kustomize(
    charted: dict[str, Objects], kustomized: dict[str, Objects], mode: str
) -> None:
    chart, kustomize = permissions(charted[mode]), permissions(kustomized[mode])
    assert chart, "the chart grants the operator nothing"
    assert sorted(chart - kustomize) == [], "only the chart grants these"
    assert sorted(kustomize - chart) == [], "only kustomize grants these"


@pytest.mark.parametrize("mode", list(MODES))
def test_same_aggregated_roles_as_kustomize(
    charted: dict[str, Objects], kustomized: dict[str, Objects], mode: str
) -> None:
    assert aggregated_rules(charted[mode]) == aggregated_rules(kustomized[mode])


@pytest.mark.parametrize("mode", list(MODES))
def test_same_deployment_as_kustomize(
    charted: dict[str, Objects], kustomized: dict[str, Objects], mode: str
) -> None:
    chart, kustomize = deployment_view(charted[mode]), deployment_view(kustomized[mode])
    # Until manifests/base/deployment.yaml carries them too (issue 9), only the chart has the
    # downward-API env and the readiness probe (test_operator_pod_knows_itself); from then
    # on they must be equal like the rest.
    kustomize["container"].setdefault("readinessProbe", chart["container"].get("readinessProbe"))
    kustomize["env"] = DOWNWARD_ENV | kustomize["env"]
    for key in kustomize:
        assert chart[key] == kustomize[key], key


def test_operator_pod_knows_itself_and_says_when_ready(charted: dict[str, Objects]) -> None:
    """POD_NAME/POD_NAMESPACE (leader identity, Lease namespace) and a /readyz probe."""
    for mode, objects in charted.items():
        (container,) = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
        assert DOWNWARD_ENV.items() <= _env(container).items(), mode
        probe = container["readinessProbe"]["httpGet"]
        assert (probe["path"], probe["port"]) == ("/readyz", "health"), mode


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(
    "kind",
    [
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ],
)
def test_same_specs_as_kustomize(
    charted: dict[str, Objects], kustomized: dict[str, Objects], mode: str, kind: str
) -> None:
    chart = [_spec_without_selector(o) for o in _of_kind(charted[mode], kind)]
    kustomize = [_spec_without_selector(o) for o in _of_kind(kustomized[mode], kind)]
    assert chart == kustomize


# --- the chart on its own ----------------------------------------------------------------


def _pod_labels(objects: Objects) -> dict[str, str]:
    labels: dict[str, str] = _one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("mode", list(MODES))
def test_selectors_select_the_operator_pods(charted: dict[str, Objects], mode: str) -> None:
    labels = _pod_labels(charted[mode]).items()
    deployment = _one(charted[mode], "Deployment")
    selectors = [deployment["spec"]["selector"]["matchLabels"]]
    selectors += [o["spec"]["selector"] for o in _of_kind(charted[mode], "Service")]
    selectors += [
        o["spec"]["selector"]["matchLabels"] for o in _of_kind(charted[mode], "PodDisruptionBudget")
    ]
    selectors += [
        o["spec"]["podSelector"]["matchLabels"] for o in _of_kind(charted[mode], "NetworkPolicy")
    ]
    assert len(selectors) >= 3
    for selector in selectors:
        assert selector.items() <= labels, selector


def test_a_namespace_list_gives_roles_and_flags_only_there(helm: str) -> None:
    objects = render_chart(helm, ["watchNamespaces={team-a,team-b}", "secrets.enabled=true"])
    scopes = {grant[0] for grant in permissions(objects)}
    assert scopes == {"team-a", "team-b", NAMESPACE}  # NAMESPACE: hash-key Secret, Lease
    own = {g for g in permissions(objects) if g[0] == NAMESPACE}
    assert {(g[2], g[3]) for g in own} == {
        ("secrets", "create"),
        ("secrets", "get"),
        ("leases", "create"),
        ("leases", "get"),
        ("leases", "update"),
    }
    (container,) = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [a for a in container["args"] if a.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]


LEASE_GRANTS = {
    (NAMESPACE, "coordination.k8s.io", "leases", "create", "*"),
    (NAMESPACE, "coordination.k8s.io", "leases", "get", "rollout-operator"),
    (NAMESPACE, "coordination.k8s.io", "leases", "update", "rollout-operator"),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_leader_election_in_every_mode(charted: dict[str, Objects], mode: str) -> None:
    """Only the Lease holder acts, HA or not: turning HA on with a plain `helm upgrade`
    first scales the old ReplicaSet up, and those pods must not act next to the leader."""
    (container,) = _one(charted[mode], "Deployment")["spec"]["template"]["spec"]["containers"]
    assert "--leader-elect" in container["args"]
    assert not any(arg.startswith("--leader-election-") for arg in container["args"])
    assert permissions(charted[mode]) >= LEASE_GRANTS


def _without_ha(objects: Objects) -> Objects:
    """`objects` minus what ha.enabled may add or change."""
    out = []
    for obj in copy.deepcopy(objects):
        if obj["kind"] == "PodDisruptionBudget":
            continue
        if obj["kind"] == "Deployment":
            for key in ("replicas", "strategy"):
                obj["spec"].pop(key)
            obj["spec"]["template"]["spec"].pop("affinity", None)
        out.append(obj)
    return out


def test_ha_changes_only_replicas_strategy_pdb_and_affinity(charted: dict[str, Objects]) -> None:
    """ha.enabled adds what two replicas need, nothing else (leader election is always on),
    so turning it on or off is a plain `helm upgrade`."""
    ha = charted["ha"]
    assert _one(ha, "Deployment")["spec"]["replicas"] == 2
    assert _of_kind(ha, "PodDisruptionBudget")
    assert _without_ha(ha) == _without_ha(charted["default"])


def test_image_defaults_to_the_app_version_and_takes_a_digest(helm: str) -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]

    def image(*values: str) -> str:
        deployment = _one(render_chart(helm, values), "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        value: str = container["image"]
        return value

    assert image() == f"ghcr.io/rollout-operator/rollout-operator:{version}"
    assert image("image.repository=localhost/rollout-operator", "image.tag=dev") == (
        "localhost/rollout-operator:dev"
    )
    digest = "sha256:" + "a" * 64
    assert image(f"image.digest={digest}").endswith(f"rollout-operator@{digest}")


def test_service_monitor_keeps_the_operators_labels(helm: str) -> None:
    objects = render_chart(helm, ["metrics.serviceMonitor.enabled=true"])
    monitor = _one(objects, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True  # namespace= on rollout_status is the Rollout's
    service = _one(objects, "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert not _of_kind(render_chart(helm, []), "ServiceMonitor")


def test_optional_parts_can_be_turned_off(helm: str) -> None:
    objects = render_chart(
        helm,
        [
            "admissionPolicy.enabled=false",
            "networkPolicy.enabled=false",
            "aggregateRoles.enabled=false",
        ],
    )
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    assert "NetworkPolicy" not in kinds
    assert not aggregated_rules(objects)
    assert {"Deployment", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} <= kinds
