"""rbac.py is the contract's least-privilege rule set, and every generated file matches it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from rollout_operator import rbac

REPO = Path(__file__).resolve().parents[2]


def _grants(rules):
    """(group, resource, name) -> verbs, so rule splitting does not matter."""
    grants: dict[tuple[str, str, str], set[str]] = {}
    for rule in rules:
        for resource in rule.resources:
            for name in rule.resource_names or ("",):
                grants.setdefault((rule.api_group, resource, name), set()).update(rule.verbs)
    return grants


# Written out independently of rbac.py (docs/CONTRACT §4): what the operator may do, exactly.
WATCHED = {
    ("rollout-operator.dev", "rollouts", ""): {"get", "list", "watch"},
    ("rollout-operator.dev", "rollouts/status", ""): {"get", "patch"},
    ("apps", "deployments", ""): {"get", "list", "watch", "patch"},
    ("apps", "statefulsets", ""): {"get", "list", "watch", "patch"},
    ("apps", "daemonsets", ""): {"get", "list", "watch", "patch"},
    ("", "configmaps", ""): {"get", "list", "watch"},
    ("", "events", ""): {"create", "list"},
    ("", "pods", ""): {"list"},
}
SECRETS = {("", "secrets", ""): {"get", "list", "watch"}}
OWN_SECRETS = {
    ("", "secrets", ""): {"create"},
    ("", "secrets", "rollout-operator-hash-key"): {"get"},
}
LEASES = {
    ("coordination.k8s.io", "leases", ""): {"create"},
    ("coordination.k8s.io", "leases", "rollout-operator"): {"get", "update"},
}


@pytest.mark.parametrize("secrets", [False, True])
def test_watched_rules_are_exactly_the_contract(secrets):
    assert _grants(rbac.watched_rules(secrets)) == WATCHED | (SECRETS if secrets else {})


@pytest.mark.parametrize(
    ("secrets", "leader_elect", "expected"),
    [
        (False, False, {}),
        (True, False, OWN_SECRETS),
        (False, True, LEASES),
        (True, True, OWN_SECRETS | LEASES),
    ],
)
def test_own_namespace_rules_only_with_their_flag(secrets, leader_elect, expected):
    assert _grants(rbac.own_namespace_rules(secrets, leader_elect)) == expected


def test_no_wildcards_no_escalation_verbs():
    rules = rbac.watched_rules(True) + rbac.own_namespace_rules(True, True)
    for rule in rules:
        for value in (rule.api_group, *rule.resources, *rule.verbs, *rule.resource_names):
            assert "*" not in value, rule
        assert not {"escalate", "bind", "impersonate", "delete"} & set(rule.verbs), rule
        assert rule.why, rule


def test_secret_create_is_never_granted_where_the_operator_watches():
    assert not any(
        "secrets" in rule.resources and "create" in rule.verbs for rule in rbac.watched_rules(True)
    )


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_rbac", REPO / "hack" / "gen-rbac.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_rbac"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_up_to_date():
    """manifests, chart rules and README table == `python hack/gen-rbac.py` output."""
    outputs = _generator().outputs(REPO)
    stale = [
        str(path.relative_to(REPO))
        for path, content in outputs.items()
        if not path.exists() or path.read_text() != content
    ]
    assert not stale, f"run `python hack/gen-rbac.py` and commit: {stale}"


def test_generator_covers_chart_and_readme():
    paths = {str(p.relative_to(REPO)) for p in _generator().outputs(REPO)}
    assert {"charts/rollout-operator/files/rbac-rules.yaml", "README.md"} <= paths


def test_chart_rules_file_has_the_agreed_shape():
    data = yaml.safe_load((REPO / "charts/rollout-operator/files/rbac-rules.yaml").read_text())
    assert set(data) == {"watched", "secrets", "ownNamespace"}
    assert set(data["ownNamespace"]) == {"secrets", "leaderElection"}
    assert data["watched"] == [r.to_k8s() for r in rbac.WATCHED]
    assert data["secrets"] == [r.to_k8s() for r in rbac.SECRETS]
    assert data["ownNamespace"]["secrets"] == [r.to_k8s() for r in rbac.OWN_NAMESPACE_SECRETS]
    assert data["ownNamespace"]["leaderElection"] == [r.to_k8s() for r in rbac.LEADER_ELECTION]


def test_readme_table_lists_every_rule():
    readme = (REPO / "README.md").read_text()
    table = readme.split(_generator().README_BEGIN)[1].split(_generator().README_END)[0]
    for rule in rbac.watched_rules(True) + rbac.own_namespace_rules(True, True):
        assert f"| {', '.join(rule.verbs)} | {rule.why} |" in table, rule
