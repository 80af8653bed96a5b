"""The kustomize tree under manifests/: render every variant and check what it grants.

Rendering uses ``kubectl kustomize``: the kubectl that tests/cluster/build.sh
builds into its cache when it is there, else the one on PATH. The tree is
rendered from a copy of manifests/ and crds/ so that a missing CRD file (the
operator's own, written separately) fails one test instead of all of them.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout_operator import rbac

REPO = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO / "tests" / "cluster"
CRD_FILE = REPO / "crds" / "rollout-operator.dev_rollouts.yaml"
NAMESPACE = "rollout-operator-system"
IMAGE = "ghcr.io/rollout-operator/rollout-operator:0.1.0"
OPERATOR_GROUP = "rollout-operator.dev"

Grants = dict[tuple[str, str, str], set[str]]


def _rule_grants(rules: list[dict[str, Any]]) -> Grants:
    """(apiGroup, resource, resourceName or "") -> verbs, so rule splitting does not matter."""
    grants: Grants = {}
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for name in rule.get("resourceNames") or [""]:
                    grants.setdefault((group, resource, name), set()).update(rule["verbs"])
    return grants


def _from_rbac_py(rules: tuple[rbac.Rule, ...]) -> Grants:
    return _rule_grants([rule.to_k8s() for rule in rules])


# The watched-namespace (Cluster)Role of each variant: exactly rbac.py's rules.
DEFAULT_GRANTS = _from_rbac_py(rbac.watched_rules(secrets=False))
SECRETS_GRANTS = _from_rbac_py(rbac.watched_rules(secrets=True))
# Roles in the operator's own namespace, by name.
HASH_KEY_ROLE = "rollout-operator-hash-key"
LEASE_ROLE = "rollout-operator-leader-election"
OWN_ROLES = {
    HASH_KEY_ROLE: _from_rbac_py(rbac.OWN_NAMESPACE_SECRETS),
    LEASE_ROLE: _from_rbac_py(rbac.LEADER_ELECTION),
}
POLICY = "rollout-operator-rollout-author"
#: Built-in API groups: objects of these kinds need no CRD, so one `kubectl apply -k` works.
BUILTIN_GROUPS = {
    "",
    "apps",
    "policy",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
}

# Variant -> kustomization directory (relative to the copied tree).
VARIANTS = {
    "default": "manifests",
    "secrets": "manifests/overlays/secrets",
    "ha": "manifests/overlays/ha",
    "namespaced": "manifests/overlays/namespaced",
    # Not shipped: proves the components also fit the namespaced variant.
    "namespaced-secrets-ha": "manifests/overlays/namespaced-secrets-ha",
    # Not shipped: the documented way to turn the admission policy off.
    "no-admission-policy": "manifests/overlays/no-admission-policy",
}
NO_POLICY_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../default
components:
  - ../../components/no-admission-policy
"""
COMBINED_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../namespaced
components:
  - ../../components/secrets
  - ../../components/ha
"""

STUB_CRD = f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: rollouts.{OPERATOR_GROUP}
spec:
  group: {OPERATOR_GROUP}
  scope: Namespaced
  names: {{kind: Rollout, plural: rollouts, singular: rollout}}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources: {{status: {{}}}}
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def _cluster_kubectl() -> Path | None:
    """The kubectl tests/cluster/build.sh would print the directory of (not building it)."""
    versions: dict[str, str] = {}
    for line in (CLUSTER_DIR / "versions.env").read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            versions[key] = value.strip().strip('"')
    cache_root = os.environ.get("ROLLOUT_OPERATOR_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rollout-operator"
    )
    name = (
        f"k8s-{versions['KUBE_VERSION']}-etcd-{versions['ETCD_VERSION']}"
        f"-kwok-{versions['KWOK_VERSION']}"
    )
    kubectl = Path(cache_root) / name / "bin" / "kubectl"
    return kubectl if kubectl.is_file() and os.access(kubectl, os.X_OK) else None


@pytest.fixture(scope="session")
def kubectl() -> str:
    found = _cluster_kubectl() or shutil.which("kubectl")
    if not found:
        pytest.skip("no kubectl (tests/cluster/build.sh builds one)")
    return str(found)


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kustomize")
    shutil.copytree(REPO / "manifests", root / "manifests")
    shutil.copytree(REPO / "crds", root / "crds")
    stub = root / "crds" / CRD_FILE.name
    if not stub.exists():
        stub.write_text(STUB_CRD)
    combined = root / VARIANTS["namespaced-secrets-ha"]
    combined.mkdir(parents=True)
    (combined / "kustomization.yaml").write_text(COMBINED_OVERLAY)
    no_policy = root / VARIANTS["no-admission-policy"]
    no_policy.mkdir(parents=True)
    (no_policy / "kustomization.yaml").write_text(NO_POLICY_OVERLAY)
    return root


@pytest.fixture(scope="session")
def rendered(kubectl: str, tree: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for variant, directory in VARIANTS.items():
        proc = subprocess.run(
            [kubectl, "kustomize", str(tree / directory)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, f"kubectl kustomize {directory}:\n{proc.stderr}"
        out[variant] = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    return out


def _of_kind(docs: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in kinds]


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in _of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _operator_role(docs: list[dict[str, Any]]) -> dict[str, Any]:
    roles = [
        d
        for d in _of_kind(docs, "ClusterRole", "Role")
        if d["metadata"]["name"] == "rollout-operator"
    ]
    assert len(roles) == 1, [r["kind"] for r in roles]
    return roles[0]


def _grants(role: dict[str, Any]) -> Grants:
    return _rule_grants(role.get("rules", []))


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = _one(docs, "Deployment", "rollout-operator")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _rules(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for role in _of_kind(docs, "ClusterRole", "Role"):
        for rule in role.get("rules", []):
            yield f"{role['kind']}/{role['metadata']['name']}", rule


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_wildcards_in_rbac(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    for where, rule in _rules(rendered[variant]):
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            values = rule.get(field, [])
            assert not any("*" in value for value in values), f"{variant}: {where} {field}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_operator_grants_are_exactly_rbac_py(
    rendered: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    expected = SECRETS_GRANTS if "secrets" in variant else DEFAULT_GRANTS
    assert _grants(_operator_role(rendered[variant])) == expected


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_own_namespace_roles_only_with_their_flag(
    rendered: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    docs = rendered[variant]
    args = _container(docs)["args"]
    expected = set()
    if "--enable-secrets" in args:
        expected.add(HASH_KEY_ROLE)
    if "--leader-elect" in args:
        expected.add(LEASE_ROLE)
    roles = {d["metadata"]["name"]: d for d in _of_kind(docs, "Role")}
    roles.pop("rollout-operator", None)  # the namespaced variant's watched-namespace Role
    assert set(roles) == expected
    for name, role in roles.items():
        assert role["metadata"]["namespace"] == NAMESPACE
        assert _grants(role) == OWN_ROLES[name]
        binding = _one(docs, "RoleBinding", name)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": name,
        }


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_secrets_only_with_enable_secrets(
    rendered: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    docs = rendered[variant]
    secret_rules = [where for where, rule in _rules(docs) if "secrets" in rule.get("resources", [])]
    enabled = "--enable-secrets" in _container(docs)["args"]
    assert enabled == ("secrets" in variant)
    assert bool(secret_rules) == enabled, secret_rules


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_deployment_is_locked_down(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    deployment = _one(rendered[variant], "Deployment", "rollout-operator")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(rendered[variant])

    assert deployment["metadata"]["namespace"] == NAMESPACE
    assert pod["serviceAccountName"] == "rollout-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["image"] == IMAGE
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security.get("privileged", False) is False
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) >= {"cpu", "memory"}, kind


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ports_probe_and_args(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    container = _container(rendered[variant])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    assert ports.get(probe["port"], probe["port"]) == 8081
    args = container["args"]
    assert args[0] == "run"
    assert "--metrics-port=8080" in args
    assert "--health-port=8081" in args


def test_metrics_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["default"]
    service = _one(docs, "Service", "rollout-operator-metrics")
    assert service["metadata"]["namespace"] == NAMESPACE
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = _one(docs, "Deployment", "rollout-operator")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_namespaced_objects_live_in_the_operator_namespace(
    rendered: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    cluster_kinds = {"Namespace", "CustomResourceDefinition", "ClusterRole"}
    cluster_kinds |= {
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    for doc in rendered[variant]:
        if doc["kind"] not in cluster_kinds:
            assert doc["metadata"].get("namespace") == NAMESPACE, doc["metadata"]["name"]
    for binding in _of_kind(rendered[variant], "ClusterRoleBinding", "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "rollout-operator", "namespace": NAMESPACE}
        ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_crds_are_included(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    names = {
        doc["metadata"]["name"] for doc in _of_kind(rendered[variant], "CustomResourceDefinition")
    }
    assert names == {f"rollouts.{OPERATOR_GROUP}"}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_one_apply_installs_it(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    """No object of a kind that a CRD in the same apply defines (kopf peering was one)."""
    for doc in rendered[variant]:
        group = doc["apiVersion"].rpartition("/")[0]
        assert group in BUILTIN_GROUPS, f"{doc['kind']}/{doc['metadata']['name']} ({group})"


def test_rollout_crd_file_exists() -> None:
    assert CRD_FILE.exists(), f"{CRD_FILE.relative_to(REPO)} is missing (kubectl apply -k fails)"


def test_rollout_crd_renders_from_crds_dir(kubectl: str) -> None:
    if not CRD_FILE.exists():
        pytest.skip("crds/rollout-operator.dev_rollouts.yaml does not exist yet")
    proc = subprocess.run(
        [kubectl, "kustomize", str(REPO / "manifests")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    crd = next(
        doc
        for doc in yaml.safe_load_all(proc.stdout)
        if doc
        and doc["kind"] == "CustomResourceDefinition"
        and doc["metadata"]["name"] == f"rollouts.{OPERATOR_GROUP}"
    )
    assert crd["spec"]["group"] == OPERATOR_GROUP
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == "Rollout"


def test_namespaced_grants_nothing_cluster_wide(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for variant in ("namespaced", "namespaced-secrets-ha"):
        docs = rendered[variant]
        assert _of_kind(docs, "ClusterRoleBinding") == [], variant
        for role in _of_kind(docs, "ClusterRole"):
            # Only the aggregated rollouts view/edit roles remain, for people.
            groups = {group for rule in role["rules"] for group in rule["apiGroups"]}
            assert groups == {OPERATOR_GROUP}, role["metadata"]["name"]
            assert any(
                key.startswith("rbac.authorization.k8s.io/aggregate-to-")
                for key in role["metadata"].get("labels", {})
            ), role["metadata"]["name"]
        _one(docs, "Role", "rollout-operator")
        _one(docs, "RoleBinding", "rollout-operator")


def test_namespaced_watches_only_its_namespace(rendered: dict[str, list[dict[str, Any]]]) -> None:
    container = _container(rendered["namespaced"])
    assert "--namespace=$(POD_NAMESPACE)" in container["args"]
    env = {item["name"]: item for item in container.get("env", [])}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    for variant in ("default", "secrets", "ha"):
        args = _container(rendered[variant])["args"]
        assert not any(arg.startswith("--namespace") for arg in args), variant


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_leader_election_in_every_variant(
    rendered: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    """Only the Lease holder acts, in every install: whatever the Deployment runs (turning
    HA on first scales the old ReplicaSet up), two operators never act at once."""
    docs = rendered[variant]
    deployment = _one(docs, "Deployment", "rollout-operator")
    args = _container(docs)["args"]
    assert not any(arg.startswith("--peering") for arg in args)
    assert not any("kopf" in doc["apiVersion"] for doc in docs)
    assert "--leader-elect" in args
    assert not any(arg.startswith("--leader-election-") for arg in args)  # the granted Lease
    role = _one(docs, "Role", LEASE_ROLE)
    assert role["metadata"]["namespace"] == NAMESPACE
    assert _grants(role) == OWN_ROLES[LEASE_ROLE]
    _one(docs, "RoleBinding", LEASE_ROLE)
    if variant.endswith("ha"):
        assert deployment["spec"]["replicas"] == 2
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
        pdb = _one(docs, "PodDisruptionBudget", "rollout-operator")
        assert pdb["spec"]["minAvailable"] == 1
    else:
        assert deployment["spec"]["replicas"] == 1
        assert _of_kind(docs, "PodDisruptionBudget") == []
        # One replica: an update stops the old pod before it starts the new one.
        assert deployment["spec"]["strategy"]["type"] == "Recreate"


def _without_ha(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`docs` minus what components/ha may add or change."""
    out = []
    for doc in copy.deepcopy(docs):
        if doc["kind"] == "PodDisruptionBudget":
            continue
        if doc["kind"] == "Deployment":
            for key in ("replicas", "strategy"):
                doc["spec"].pop(key)
            doc["spec"]["template"]["spec"].pop("affinity", None)
        out.append(doc)
    return out


def test_ha_adds_only_replicas_strategy_pdb_and_affinity(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """components/ha adds only what two replicas need: leader election is the base's."""
    ha = rendered["ha"]
    affinity = _one(ha, "Deployment", "rollout-operator")["spec"]["template"]["spec"]["affinity"]
    assert list(affinity) == ["podAntiAffinity"]
    assert _without_ha(ha) == _without_ha(rendered["default"])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_admission_policy_in_every_variant_unless_turned_off(
    rendered: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    docs = rendered[variant]
    if variant == "no-admission-policy":
        assert _of_kind(docs, "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding") == []
        return
    policy = _one(docs, "ValidatingAdmissionPolicy", POLICY)
    binding = _one(docs, "ValidatingAdmissionPolicyBinding", POLICY)
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert binding["spec"] == {"policyName": POLICY, "validationActions": ["Deny"]}
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": [OPERATOR_GROUP],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["rollouts"],
        }
    ]
    text = yaml.safe_dump(spec)
    for check in (".check('patch')", "resource('secrets')", "resource('configmaps')"):
        assert check in text, check
    assert all(v.get("reason") == "Forbidden" for v in spec["validations"])


def test_admission_policy_checks_every_name_the_crd_allows(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """One validation per list index up to the CRD's maxItems, and a guard beyond it."""
    spec = _one(rendered["default"], "ValidatingAdmissionPolicy", POLICY)["spec"]
    crd = yaml.safe_load(CRD_FILE.read_text())
    lists = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["restartOnChangeOf"]["properties"]
    for field, resource in (("secrets", "secrets"), ("configMaps", "configmaps")):
        limit = lists[field]["maxItems"]
        checked = [
            v for v in spec["validations"]
            if f"resource('{resource}')" in v["expression"] and ".name(" in v["expression"]
        ]  # fmt: skip
        assert [f"variables.{field}[{i}]" in v["expression"] for i, v in enumerate(checked)] == [
            True
        ] * limit
        assert f"size(variables.{field}) <= {limit}" in [
            v["expression"] for v in spec["validations"]
        ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_network_policy_admits_only_metrics(
    rendered: dict[str, list[dict[str, Any]]], variant: str
) -> None:
    docs = rendered[variant]
    policy = _one(docs, "NetworkPolicy", "rollout-operator")
    pod_labels = _one(docs, "Deployment", "rollout-operator")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    metrics = next(p for p in _container(docs)["ports"] if p["name"] == "metrics")
    assert policy["spec"]["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": metrics["containerPort"]}]}
    ]


def test_aggregated_rollout_roles(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["default"]
    view = _one(docs, "ClusterRole", "rollout-operator-rollouts-view")
    edit = _one(docs, "ClusterRole", "rollout-operator-rollouts-edit")
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    for label in ("aggregate-to-edit", "aggregate-to-admin"):
        assert edit["metadata"]["labels"][f"rbac.authorization.k8s.io/{label}"] == "true"
    assert _grants(view)[(OPERATOR_GROUP, "rollouts", "")] == {"get", "list", "watch"}
    assert _grants(edit)[(OPERATOR_GROUP, "rollouts", "")] >= {
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
    }
    for role in (view, edit):
        assert all(key[0] == OPERATOR_GROUP for key in _grants(role)), role["metadata"]["name"]
