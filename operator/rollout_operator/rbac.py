"""The RBAC rules the operator needs, per install mode: the one source of truth.

Pure data. `hack/gen-rbac.py` writes the kustomize RBAC (manifests/rbac/**, the base's Lease
Role, the secrets component), the Helm chart's `files/rbac-rules.yaml` and the README's table;
`permissions.py` derives the start-up preflight from it; a unit test fails when any
generated file differs. Change a rule here, run `python hack/gen-rbac.py`, commit both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .names import GROUP, PLURAL

#: Default of `--leader-election-id`: the Lease the operator's pods compete for.
LEADER_ELECTION_ID: Final = "rollout-operator"
#: Default of `--hash-key-secret`: the HMAC key for Secret content hashes (own namespace).
HASH_KEY_SECRET: Final = "rollout-operator-hash-key"


@dataclass(frozen=True)
class Rule:
    """One RBAC PolicyRule, with why the operator needs it."""

    api_group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str
    resource_names: tuple[str, ...] = ()

    def to_k8s(self) -> dict[str, list[str]]:
        """The PolicyRule as it appears in a Role/ClusterRole."""
        rule = {
            "apiGroups": [self.api_group],
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }
        if self.resource_names:
            rule["resourceNames"] = list(self.resource_names)
        return rule


#: In every watched namespace (a ClusterRole for cluster-wide installs, else a Role each).
WATCHED: Final = (
    Rule(GROUP, (PLURAL,), ("get", "list", "watch"), "read the Rollouts"),
    Rule(GROUP, (f"{PLURAL}/status",), ("get", "patch"), "report progress"),
    Rule(
        "apps",
        ("deployments", "statefulsets", "daemonsets"),
        ("get", "list", "watch", "patch"),
        "set images and the restart annotation",
    ),
    Rule("", ("configmaps",), ("get", "list", "watch"), "hash referenced ConfigMaps"),
    Rule("", ("events",), ("create", "list"), "post Events; read them once on a failure"),
    Rule("", ("pods",), ("list",), "find the root cause of a failed rollout"),
)

#: Added to WATCHED with `--enable-secrets`.
SECRETS: Final = (
    Rule("", ("secrets",), ("get", "list", "watch"), "hash referenced Secrets (keyed)"),
)

#: In the operator's own namespace with `--enable-secrets`: the HMAC key Secret, created on
#: first start (a Role, so `create` is not granted in any other namespace).
OWN_NAMESPACE_SECRETS: Final = (
    Rule("", ("secrets",), ("create",), "create the hash key Secret on first start"),
    Rule(
        "",
        ("secrets",),
        ("get",),
        "read the hash key Secret (also when the own namespace is not watched)",
        (HASH_KEY_SECRET,),
    ),
)

#: In the operator's own namespace with `--leader-elect`, which every shipped install passes
#: (HA or not): whatever the Deployment does (a `helm upgrade` to HA first scales the old
#: ReplicaSet up, `kubectl scale`, a surge), only the pod holding the Lease acts.
LEADER_ELECTION: Final = (
    Rule("coordination.k8s.io", ("leases",), ("create",), "create the leader Lease"),
    Rule(
        "coordination.k8s.io",
        ("leases",),
        ("get", "update"),
        "hold or take over the leader Lease",
        (LEADER_ELECTION_ID,),
    ),
)


def watched_rules(secrets: bool) -> tuple[Rule, ...]:
    """What the operator needs in each namespace it watches."""
    return WATCHED + (SECRETS if secrets else ())


def own_namespace_rules(secrets: bool, leader_elect: bool) -> tuple[Rule, ...]:
    """What it needs in its own namespace on top of that, given its flags.

    The shipped installs grant LEADER_ELECTION always (they all pass --leader-elect); only
    a local `rollout-operator run` without the flag needs nothing here.
    """
    return (OWN_NAMESPACE_SECRETS if secrets else ()) + (LEADER_ELECTION if leader_elect else ())
