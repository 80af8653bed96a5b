import pytest

from rollout_operator.permissions import Access, check_all, plan_startup, required, review_body


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
