"""What the operator's ServiceAccount may do, as the apiserver answers it, per overlay.

`kubectl auth can-i --list` of the ServiceAccount (minus what every ServiceAccount may do)
must equal the rules of operator/rollout_operator/rbac.py, which the README's table, the
Helm chart and the preflight are generated from: in its own namespace and in any other
one, for every shipped overlay. Each overlay's RBAC is applied as rendered, moved into a
fresh namespace (and its cluster-scoped names suffixed) so overlays do not overwrite each
other or the session's install.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from rollout_operator import rbac

from .kube import Kubectl, wait_for
from .operator_process import render_manifests

SHIPPED_NAMESPACE = "rollout-operator-system"
ACCOUNT = "rollout-operator"
RBAC_KINDS = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")

#: overlay -> (--enable-secrets, --leader-elect, cluster-wide). Every install runs with
#: --leader-elect (only the Lease holder acts, HA or not), so each grants the Lease rules.
OVERLAYS = {
    "manifests": (False, True, True),
    "manifests/overlays/secrets": (True, True, True),
    "manifests/overlays/ha": (False, True, True),
    "manifests/overlays/namespaced": (False, True, False),
}

Grant = tuple[str, str, str]  # (resource as can-i prints it, resourceName or "", verb)
LINE = re.compile(
    r"^(?P<resource>\S*)\s*\[(?P<urls>[^\]]*)\]\s+\[(?P<names>[^\]]*)\]\s+\[(?P<verbs>[^\]]*)\]\s*$"
)


def _printed(group: str, resource: str) -> str:
    """How can-i prints a resource: `rollouts.rollout-operator.dev/status`."""
    name, _, sub = resource.partition("/")
    return (f"{name}.{group}" if group else name) + (f"/{sub}" if sub else "")


def _expected(rules: Iterable[rbac.Rule]) -> set[Grant]:
    return {
        (_printed(rule.api_group, resource), name, verb)
        for rule in rules
        for resource in rule.resources
        for name in rule.resource_names or ("",)
        for verb in rule.verbs
    }


def can_i_list(kubectl: Kubectl, namespace: str, user: str) -> set[Grant]:
    """`kubectl auth can-i --list -n NAMESPACE --as USER`, parsed (resource rules only)."""
    result = kubectl("auth", "can-i", "--list", "-n", namespace, "--as", user)
    assert result.returncode == 0, result.stderr
    grants: set[Grant] = set()
    for line in result.stdout.splitlines()[1:]:
        match = LINE.match(line)
        assert match, f"unexpected can-i line: {line!r}"
        if not match["resource"]:
            continue  # non-resource URLs (discovery, healthz): the same for everyone
        for verb in match["verbs"].split():
            for name in match["names"].split() or [""]:
                grants.add((match["resource"], name, verb))
    return grants


def relocate(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The overlay's RBAC for the operator, moved into `namespace`, cluster names suffixed."""
    moved = []
    for obj in objects:
        if obj["kind"] not in RBAC_KINDS:
            continue
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        if any(key.startswith("rbac.authorization.k8s.io/aggregate-to-") for key in labels):
            continue  # the Rollout roles for people, not the operator's
        if obj["kind"].startswith("Cluster"):
            meta["name"] = f"{meta['name']}-{namespace}"
        if meta.get("namespace") == SHIPPED_NAMESPACE:
            meta["namespace"] = namespace
        if obj["kind"] == "ClusterRoleBinding":
            obj["roleRef"]["name"] = f"{obj['roleRef']['name']}-{namespace}"
        for subject in obj.get("subjects") or []:
            assert subject == {"kind": "ServiceAccount", "name": ACCOUNT,
                               "namespace": SHIPPED_NAMESPACE}  # fmt: skip
            subject["namespace"] = namespace
        moved.append(obj)
    return moved


@pytest.fixture
def cluster_objects(kubectl: Kubectl) -> Iterator[list[str]]:
    """Cluster-scoped objects a test created (kind/name), deleted afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        kubectl("delete", name, "--ignore-not-found")


@pytest.mark.parametrize("overlay", list(OVERLAYS))
@pytest.mark.usefixtures("crds_installed")  # can-i resolves rollouts through discovery
def test_service_account_may_do_exactly_what_rbac_py_says(
    kubectl: Kubectl, namespace: str, cluster_objects: list[str], overlay: str
):
    secrets, leader_elect, cluster_wide = OVERLAYS[overlay]
    rendered = render_manifests(kubectl, overlay)
    (deployment,) = (o for o in rendered if o["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert ("--enable-secrets" in args, "--leader-elect" in args) == (secrets, leader_elect)
    objects = relocate(rendered, namespace)
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    kubectl("apply", "-f", "-", input=document, check=True)
    cluster_objects.extend(
        f"{o['kind'].lower()}/{o['metadata']['name']}" for o in objects
        if o["kind"].startswith("Cluster")
    )  # fmt: skip
    kubectl("create", "serviceaccount", "baseline", "-n", namespace, check=True)
    account = f"system:serviceaccount:{namespace}:{ACCOUNT}"
    baseline = f"system:serviceaccount:{namespace}:baseline"

    # Barrier: every binding is in force (the apiserver's RBAC cache has caught up).
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objects if "rules" in o}
    for binding in (o for o in objects if o["kind"].endswith("Binding")):
        rule = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]["rules"][0]
        what = _printed(rule["apiGroups"][0], rule["resources"][0])
        if rule.get("resourceNames"):
            what += "/" + rule["resourceNames"][0]
        where = binding["metadata"].get("namespace", "default")
        wait_for(
            lambda what=what, where=where, verb=rule["verbs"][0]: kubectl(
                "auth", "can-i", verb, what, "-n", where, "--as", account
            ).stdout.strip() == "yes",
            what=f"{binding['kind']}/{binding['metadata']['name']} in force",
        )  # fmt: skip

    watched = _expected(rbac.watched_rules(secrets))
    own = _expected(rbac.own_namespace_rules(secrets, leader_elect))
    common = can_i_list(kubectl, namespace, baseline)
    in_own = can_i_list(kubectl, namespace, account) - common
    assert in_own == watched | own
    elsewhere = can_i_list(kubectl, "default", account) - can_i_list(kubectl, "default", baseline)
    assert elsewhere == (watched if cluster_wide else set())
