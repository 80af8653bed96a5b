"""Attack: the confused deputy (issue 8, finding 3), against the shipped admission policy.

The operator may patch every workload it watches. A user who may create Rollouts but not
patch a Deployment, or not read a Secret, must not get the operator to do it for them: the
ValidatingAdmissionPolicy in manifests/admission rejects such a Rollout at apply, saying
which permission is missing; with that permission the same Rollout is accepted. The users
are impersonated (`kubectl --as`) with the admin kubeconfig; their rights are minimal Roles.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

import pytest

from .kube import Kubectl, make_deployment, wait_for
from .operator_process import install, render_manifests
from .rollouts import make_rollout

POLICY_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
POLICY = "rollout-operator-rollout-author"


@pytest.fixture(scope="module")
def admission_policy(kubectl: Kubectl, crds_installed: list[str]) -> str:
    """The shipped policy and binding, and the aggregated Rollout roles for people (as
    `kubectl apply -k manifests/` installs them; the operator's own RBAC is left alone)."""
    objects = [
        o
        for o in render_manifests(kubectl, "manifests")
        if o["kind"] in POLICY_KINDS
        or (
            o["kind"] == "ClusterRole"
            and o["metadata"]["name"].startswith("rollout-operator-rollouts-")
        )
    ]
    assert len(objects) == 4
    install(kubectl, objects)
    return POLICY


def _user() -> str:
    return f"author-{secrets.token_hex(3)}"


def _role(kubectl: Kubectl, namespace: str, user: str, name: str, *rules: Sequence[str]) -> None:
    """A Role `name` bound to `user`; each rule is (verb,verb..., resource[, resourceName])."""
    role: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name},
        "rules": [],
    }
    for verbs, resource, *names in rules:
        plural, _, group = resource.partition(".")
        rule: dict[str, Any] = {"apiGroups": [group], "resources": [plural],
                                "verbs": verbs.split(",")}  # fmt: skip
        if names:
            rule["resourceNames"] = list(names)
        role["rules"].append(rule)
    kubectl.apply(role, namespace)
    kubectl("create", "rolebinding", name, f"--role={name}", f"--user={user}",
            "-n", namespace, check=True)  # fmt: skip


def _can(kubectl: Kubectl, user: str, namespace: str, verb: str, what: str) -> bool:
    result = kubectl("auth", "can-i", verb, what, "-n", namespace, "--as", user)
    return result.stdout.strip() == "yes"


def _await_rbac(kubectl: Kubectl, user: str, namespace: str, verb: str, what: str) -> None:
    """Positive barrier: the apiserver's authorizer sees the new grant."""
    wait_for(lambda: _can(kubectl, user, namespace, verb, what), what=f"{user} may {verb} {what}")


def _apply_as(kubectl: Kubectl, user: str, namespace: str, manifest: dict[str, Any]) -> Any:
    return kubectl("--as", user, "apply", "-n", namespace, "-f", "-",
                   input=json.dumps(manifest))  # fmt: skip


def _await_policy(kubectl: Kubectl, user: str, namespace: str, manifest: dict[str, Any],
                  expected: str) -> str:  # fmt: skip
    """Positive barrier: the policy is in force (a server-side dry run is refused with `expected`)."""

    def refused() -> str:
        result = kubectl("--as", user, "create", "--dry-run=server", "-n", namespace, "-f", "-",
                         input=json.dumps(manifest))  # fmt: skip
        return result.stderr if result.returncode != 0 and expected in result.stderr else ""

    message: str = wait_for(refused, what=f"the admission policy to refuse: {expected}")
    return message


def _stored(kubectl: Kubectl, namespace: str) -> list[str]:
    result = kubectl("get", "rollouts", "-n", namespace, "-o", "name", check=True)
    return result.stdout.split()


@pytest.mark.compat
def test_author_without_patch_on_the_target_is_rejected_then_accepted_with_it(
    admission_policy: str, kubectl: Kubectl, namespace: str
):
    user = _user()
    kubectl.apply(make_deployment("web", replicas=1), namespace)
    _role(kubectl, namespace, user, "rollouts",
          ("get,list,watch,create,update,patch", "rollouts.rollout-operator.dev"),
          ("get,list,watch", "deployments.apps"))  # fmt: skip
    _await_rbac(kubectl, user, namespace, "create", "rollouts.rollout-operator.dev")
    assert not _can(kubectl, user, namespace, "patch", "deployments.apps/web")
    # The same user cannot `kubectl set image` it directly...
    direct = kubectl("--as", user, "set", "image", "deployment/web", "app=evil:1", "-n", namespace)
    assert direct.returncode != 0
    assert "forbidden" in direct.stderr

    # ...nor through a Rollout.
    rollout = make_rollout("web", "web", containers=[{"name": "app", "image": "evil:1"}])
    expected = (
        f"user {user} may not patch deployments.apps web in namespace {namespace}: "
        "a Rollout may only change workloads its author may patch"
    )
    _await_policy(kubectl, user, namespace, rollout, expected)
    result = _apply_as(kubectl, user, namespace, rollout)
    assert result.returncode != 0
    assert expected in result.stderr
    assert f"ValidatingAdmissionPolicy '{POLICY}'" in result.stderr
    assert _stored(kubectl, namespace) == []

    # Patch on another Deployment does not help; patch on this one does.
    _role(kubectl, namespace, user, "patch-other", ("patch", "deployments.apps", "other"))
    _await_rbac(kubectl, user, namespace, "patch", "deployments.apps/other")
    assert expected in _apply_as(kubectl, user, namespace, rollout).stderr
    _role(kubectl, namespace, user, "patch-web", ("patch", "deployments.apps", "web"))
    _await_rbac(kubectl, user, namespace, "patch", "deployments.apps/web")
    accepted = _apply_as(kubectl, user, namespace, rollout)
    assert accepted.returncode == 0, accepted.stderr
    assert _stored(kubectl, namespace) == ["rollout.rollout-operator.dev/web"]


@pytest.mark.compat
@pytest.mark.parametrize(
    ("kind", "field", "resource"),
    [("Secret", "secrets", "secrets"), ("ConfigMap", "configMaps", "configmaps")],
)
def test_author_without_get_on_a_referenced_config_is_rejected(
    admission_policy: str, kubectl: Kubectl, namespace: str, kind: str, field: str, resource: str
):
    user = _user()
    _role(kubectl, namespace, user, "author",
          ("get,list,watch,create,update,patch", "rollouts.rollout-operator.dev"),
          ("get,patch", "deployments.apps"),
          ("get", resource, "readable"))  # fmt: skip
    _await_rbac(kubectl, user, namespace, "get", f"{resource}/readable")
    assert not _can(kubectl, user, namespace, "get", f"{resource}/hidden")

    refs = {"configMaps": [], "secrets": [], field: ["readable", "hidden", "hidden-too"]}
    rollout = make_rollout("web", "web", config_maps=refs["configMaps"], secrets=refs["secrets"])
    expected = (
        f"user {user} may not get {resource} hidden in namespace {namespace}: "
        f"a Rollout may only reference {kind}s its author may read"
    )
    _await_policy(kubectl, user, namespace, rollout, expected)
    result = _apply_as(kubectl, user, namespace, rollout)
    assert result.returncode != 0
    assert expected in result.stderr
    assert _stored(kubectl, namespace) == []

    # Each unreadable one is named in turn.
    _role(kubectl, namespace, user, "hidden", ("get", resource, "hidden"))
    _await_rbac(kubectl, user, namespace, "get", f"{resource}/hidden")
    result = _apply_as(kubectl, user, namespace, rollout)
    assert f"may not get {resource} hidden-too in namespace {namespace}" in result.stderr
    _role(kubectl, namespace, user, "hidden-too", ("get", resource, "hidden-too"))
    _await_rbac(kubectl, user, namespace, "get", f"{resource}/hidden-too")
    accepted = _apply_as(kubectl, user, namespace, rollout)
    assert accepted.returncode == 0, accepted.stderr


def test_spec_change_by_a_user_without_patch_is_rejected_metadata_is_not(
    admission_policy: str, kubectl: Kubectl, namespace: str
):
    """Updates count too: an existing Rollout cannot be re-aimed by someone who may not patch."""
    kubectl.apply(make_rollout("web", "web", containers=[{"name": "app", "tag": "v1"}]), namespace)
    user = _user()
    _role(kubectl, namespace, user, "rollouts",
          ("get,list,watch,update,patch", "rollouts.rollout-operator.dev"))  # fmt: skip
    _await_rbac(kubectl, user, namespace, "patch", "rollouts.rollout-operator.dev")
    new_tag = json.dumps([{"op": "replace", "path": "/spec/containers/0/tag", "value": "evil"}])
    expected = f"user {user} may not patch deployments.apps web in namespace {namespace}"

    def refused() -> str:
        result = kubectl("--as", user, "patch", "rollout", "web", "-n", namespace,
                         "--type=json", "-p", new_tag, "--dry-run=server")  # fmt: skip
        return result.stderr if expected in result.stderr else ""

    wait_for(refused, what="the policy to refuse the spec change")
    result = kubectl("--as", user, "patch", "rollout", "web", "-n", namespace,
                     "--type=json", "-p", new_tag)  # fmt: skip
    assert result.returncode != 0
    assert expected in result.stderr
    stored = kubectl("get", "rollout", "web", "-n", namespace, "-o", "json", check=True)
    assert json.loads(stored.stdout)["spec"]["containers"][0]["tag"] == "v1"
    # Labels and annotations ask nothing of the target: allowed.
    label = kubectl("--as", user, "label", "rollout", "web", "team=a", "-n", namespace)
    assert label.returncode == 0, label.stderr


def test_namespace_editors_are_not_hindered(
    admission_policy: str, kubectl: Kubectl, namespace: str
):
    """The aggregated `edit` role may patch workloads and read configs: Rollouts just work."""
    user = _user()
    kubectl("create", "rolebinding", "edit", "--clusterrole=edit", f"--user={user}",
            "-n", namespace, check=True)  # fmt: skip
    _await_rbac(kubectl, user, namespace, "create", "rollouts.rollout-operator.dev")
    rollout = make_rollout("web", "web", containers=[{"name": "app", "tag": "v2"}],
                           config_maps=["cfg"], secrets=["creds"])  # fmt: skip
    result = _apply_as(kubectl, user, namespace, rollout)
    assert result.returncode == 0, result.stderr
