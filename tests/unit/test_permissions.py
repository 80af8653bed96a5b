import pytest

from rollout_operator import rbac
from rollout_operator.permissions import (
    Access,
    check_all,
    plan_startup,
    required,
    required_own,
    review_body,
)


def allow_all_but(*denied):
    return lambda access: (
        not any(
            access.verb == verb and access.resource == resource and access.namespace == ns
            for verb, resource, ns in denied
        )
    )


def test_everything_allowed_watches_what_was_asked():
    plan = check_all(["a", "b"], True, lambda _: True)
    assert plan.namespaces == ("a", "b")
    assert plan.secrets
    assert plan.errors == plan.warnings == ()


def test_cluster_wide_is_the_empty_namespace():
    assert check_all([], False, lambda _: True).namespaces == ("",)


def test_namespace_that_cannot_be_watched_is_skipped_with_the_missing_rule():
    plan = check_all(["mine", "default"], False, allow_all_but(("list", "deployments", "default")))
    assert plan.namespaces == ("mine",)
    assert plan.errors == (
        "not watching namespace 'default': the operator may not list deployments.apps in namespace "
        "'default' (apply the RBAC in manifests/, or pass --namespace for a namespaced install)",
    )


def test_nothing_watchable_means_no_namespaces():
    plan = check_all([], False, lambda a: a.resource != "rollouts")
    assert plan.namespaces == ()
    assert "list rollouts.rollout-operator.dev cluster-wide" in plan.errors[0]


def test_missing_secret_access_degrades_to_secrets_disabled():
    plan = check_all([], True, lambda a: a.resource != "secrets")
    assert plan.namespaces == ("",)
    assert not plan.secrets
    assert "manifests/overlays/secrets" in plan.warnings[0]


def test_missing_write_access_is_a_warning_not_a_stop():
    plan = check_all(["ns"], False, allow_all_but(("patch", "deployments", "ns")))
    assert plan.namespaces == ("ns",)
    assert "patch deployments.apps in namespace 'ns'" in plan.warnings[0]


@pytest.mark.parametrize(
    ("access", "attributes"),
    [
        (
            Access("patch", "rollout-operator.dev", "rollouts/status", "ns"),
            {
                "verb": "patch",
                "group": "rollout-operator.dev",
                "namespace": "ns",
                "resource": "rollouts",
                "subresource": "status",
            },
        ),
        (
            Access("list", "", "configmaps", ""),
            {"verb": "list", "group": "", "namespace": "", "resource": "configmaps"},
        ),
    ],
)
def test_review_body(access, attributes):
    assert review_body(access)["spec"] == {"resourceAttributes": attributes}


def test_secrets_are_only_required_when_enabled():
    assert not [a for a in required("", False) if a.resource == "secrets"]
    assert plan_startup([], False, dict.fromkeys(required("", False), True)).namespaces == ("",)


def _expanded(rules, namespace):
    return {
        Access(verb, rule.api_group, resource, namespace, name)
        for rule in rules
        for resource in rule.resources
        for name in rule.resource_names or ("",)
        for verb in rule.verbs
    }


@pytest.mark.parametrize("secrets", [False, True])
def test_preflight_asks_exactly_what_rbac_py_grants(secrets):
    assert set(required("ns", secrets)) == _expanded(rbac.watched_rules(secrets), "ns")


def test_preflight_checks_get_pods_and_events_reads():
    asked = set(required("", False))
    for verb, group, resource in [
        ("get", "apps", "deployments"),
        ("get", "", "configmaps"),
        ("get", "rollout-operator.dev", "rollouts"),
        ("list", "", "pods"),
        ("list", "", "events"),
    ]:
        assert Access(verb, group, resource, "") in asked


def test_missing_get_is_a_warning_naming_it():
    plan = check_all(["ns"], False, allow_all_but(("get", "statefulsets", "ns")))
    assert plan.namespaces == ("ns",)
    assert plan.warnings == (
        "the operator may not get statefulsets.apps in namespace 'ns': Rollouts there will "
        "show reason Forbidden, or miss Events or root causes",
    )


def test_pods_and_events_reads_are_not_needed_to_watch():
    plan = check_all(
        [], False, lambda a: (a.resource, a.verb) not in {("pods", "list"), ("events", "list")}
    )
    assert plan.namespaces == ("",)
    assert "list events cluster-wide; list pods cluster-wide" in plan.warnings[0]


@pytest.mark.parametrize(
    ("secrets", "leader_elect", "expected"),
    [(False, False, 0), (True, False, 2), (False, True, 3), (True, True, 5)],
)
def test_own_namespace_checks_follow_the_flags(secrets, leader_elect, expected):
    asked = []
    check_all(
        [],
        secrets,
        lambda a: asked.append(a) or True,
        own_namespace="op",
        leader_elect=leader_elect,
    )
    own = [a for a in asked if a.namespace == "op"]
    assert len(own) == expected
    assert set(own) == set(required_own("op", secrets, leader_elect))
    assert set(own) == _expanded(rbac.own_namespace_rules(secrets, leader_elect), "op")


def test_leases_denied_means_acting_nowhere():
    plan = check_all(
        [], False, lambda a: not (a.resource == "leases" and a.verb == "update"),
        own_namespace="op", leader_elect=True,
    )  # fmt: skip
    assert plan.namespaces == ()
    assert plan.errors == (
        "--leader-elect is set but the operator may not update leases.coordination.k8s.io "
        "'rollout-operator' in namespace 'op': it could never become the leader, so it acts "
        "nowhere (every install of manifests/ and of the Helm chart grants this: apply it "
        "again)",
    )


def test_hash_key_unreadable_disables_secrets():
    plan = check_all(
        [], True, lambda a: not (a.namespace == "op" and a.resource == "secrets" and a.verb == "get"),
        own_namespace="op",
    )  # fmt: skip
    assert plan.namespaces == ("",)
    assert not plan.secrets
    assert "get secrets 'rollout-operator-hash-key' in namespace 'op'" in plan.warnings[0]
    assert "SecretsDisabled" in plan.warnings[0]


def test_hash_key_create_denied_only_warns():
    plan = check_all(
        [], True, lambda a: not (a.namespace == "op" and a.verb == "create" and a.resource == "secrets"),
        own_namespace="op",
    )  # fmt: skip
    assert plan.secrets
    assert "cannot create its hash key Secret if it does not exist yet" in plan.warnings[0]


def test_review_body_carries_the_name():
    body = review_body(Access("get", "coordination.k8s.io", "leases", "op", "rollout-operator"))
    assert body["spec"] == {
        "resourceAttributes": {
            "verb": "get",
            "group": "coordination.k8s.io",
            "namespace": "op",
            "resource": "leases",
            "name": "rollout-operator",
        }
    }
