"""Check RBAC before watching, so missing permissions are a clear message, not a crash loop.

A 403 on a watch would otherwise be a crash loop or a silent gap. Asking the apiserver first
(SelfSubjectAccessReview) lets the operator watch only what it may, say precisely which rule
is missing, and wait for RBAC to be fixed. The questions are derived from `rbac.py`, the
rules the manifests and the Helm chart grant, so the preflight cannot drift from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .rbac import Rule, own_namespace_rules, watched_rules


@dataclass(frozen=True)
class Access:
    """One `kubectl auth can-i VERB RESOURCE[/NAME] -n NAMESPACE` question."""

    verb: str
    group: str
    resource: str
    namespace: str  # "" means all namespaces
    name: str = ""  # "" means any object

    def __str__(self) -> str:
        resource = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.name:
            resource += f" {self.name!r}"
        where = f"in namespace {self.namespace!r}" if self.namespace else "cluster-wide"
        return f"{self.verb} {resource} {where}"


def _accesses(rules: Iterable[Rule], namespace: str) -> list[Access]:
    """One question per verb, resource and name of `rules` (rbac.py), in their order."""
    return [
        Access(verb, rule.api_group, resource, namespace, name)
        for rule in rules
        for resource in rule.resources
        for name in rule.resource_names or ("",)
        for verb in rule.verbs
    ]


#: What the operator watches (Secrets excepted): without list/watch it sees nothing there.
_WATCHED_RESOURCES = frozenset(
    (rule.api_group, resource)
    for rule in watched_rules(secrets=False)
    if "watch" in rule.verbs
    for resource in rule.resources
)


def _fatal(access: Access) -> bool:
    """Denied, this leaves the operator blind in that namespace (Secrets only degrade)."""
    return access.verb in ("list", "watch") and (access.group, access.resource) in (
        _WATCHED_RESOURCES
    )


def required(namespace: str, secrets: bool) -> list[Access]:
    """Everything the operator uses in a watched `namespace` ("" for cluster-wide)."""
    return _accesses(watched_rules(secrets), namespace)


def required_own(namespace: str, secrets: bool, leader_elect: bool) -> list[Access]:
    """What it uses in its own `namespace` on top of that (rbac.own_namespace_rules)."""
    return _accesses(own_namespace_rules(secrets, leader_elect), namespace)


@dataclass(frozen=True)
class StartupPlan:
    """What to watch given the answers, and what to tell the user."""

    namespaces: tuple[str, ...]  # usable; ("",) means cluster-wide
    secrets: bool
    errors: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())


def _where(namespace: str) -> str:
    return f"namespace {namespace!r}" if namespace else "the cluster"


def plan_startup(
    namespaces: Sequence[str],
    secrets: bool,
    allowed: Mapping[Access, bool],
    *,
    own_namespace: str | None = None,
    leader_elect: bool = False,
) -> StartupPlan:
    """Decide from the review answers; `namespaces` empty means cluster-wide.

    `own_namespace` (the operator's: key Secret, Lease) is checked only when given.
    """
    usable: list[str] = []
    errors: list[str] = []
    warnings: list[str] = []
    secrets_ok = secrets
    for namespace in namespaces or [""]:
        denied = [a for a in required(namespace, secrets) if not allowed.get(a, False)]
        fatal = [a for a in denied if _fatal(a)]
        if fatal:
            errors.append(
                f"not watching {_where(namespace)}: the operator may not "
                + "; ".join(map(str, fatal))
                + " (apply the RBAC in manifests/, or pass --namespace for a namespaced install)"
            )
            continue
        usable.append(namespace)
        if any(a.resource == "secrets" for a in denied):
            secrets_ok = False
            warnings.append(
                "--enable-secrets is set but the operator may not "
                + "; ".join(str(a) for a in denied if a.resource == "secrets")
                + "; Secret references are reported as SecretsDisabled "
                "(apply manifests/overlays/secrets)"
            )
        others = [a for a in denied if a.resource != "secrets"]
        if others:
            warnings.append(
                "the operator may not "
                + "; ".join(map(str, others))
                + ": Rollouts there will show reason Forbidden, or miss Events or root causes"
            )
    if own_namespace is not None:
        own = required_own(own_namespace, secrets, leader_elect)
        denied_own = [a for a in own if not allowed.get(a, False)]
        leases = [a for a in denied_own if a.resource == "leases"]
        if leases:
            errors.append(
                "--leader-elect is set but the operator may not "
                + "; ".join(map(str, leases))
                + ": it could never become the leader, so it acts nowhere (every install "
                "of manifests/ and of the Helm chart grants this: apply it again)"
            )
            usable = []
        key = [a for a in denied_own if a.resource == "secrets"]
        if key and secrets_ok:
            if any(a.verb == "get" for a in key):
                secrets_ok = False
            warnings.append(
                "--enable-secrets is set but the operator may not "
                + "; ".join(map(str, key))
                + (
                    ": without its hash key Secret, Secret references are reported as "
                    "SecretsDisabled"
                    if not secrets_ok
                    else ": it cannot create its hash key Secret if it does not exist yet"
                )
                + " (apply manifests/overlays/secrets)"
            )
    return StartupPlan(tuple(usable), secrets_ok, tuple(errors), tuple(warnings))


def review_body(access: Access) -> dict[str, object]:
    """A SelfSubjectAccessReview for `access`."""
    attributes = {"verb": access.verb, "group": access.group, "namespace": access.namespace}
    resource, _, subresource = access.resource.partition("/")
    attributes["resource"] = resource
    if subresource:
        attributes["subresource"] = subresource
    if access.name:
        attributes["name"] = access.name
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


def questions(
    namespaces: Sequence[str],
    secrets: bool,
    *,
    own_namespace: str | None = None,
    leader_elect: bool = False,
) -> set[Access]:
    """Every access the start-up check asks about."""
    checks = {a for ns in namespaces or [""] for a in required(ns, secrets)}
    if own_namespace is not None:
        checks.update(required_own(own_namespace, secrets, leader_elect))
    return checks


def check_all(
    namespaces: Sequence[str],
    secrets: bool,
    ask: Callable[[Access], bool],
    *,
    own_namespace: str | None = None,
    leader_elect: bool = False,
) -> StartupPlan:
    """Ask about every required access (blocking) and plan the start."""
    checks = questions(namespaces, secrets, own_namespace=own_namespace, leader_elect=leader_elect)
    return plan_startup(
        namespaces,
        secrets,
        {a: ask(a) for a in checks},
        own_namespace=own_namespace,
        leader_elect=leader_elect,
    )
