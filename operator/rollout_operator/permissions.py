"""Check RBAC before watching, so missing permissions are a clear message, not a crash loop.

kopf treats a 403 on a watch like bad credentials and stops the operator after its
retries. Asking the apiserver first (SelfSubjectAccessReview) lets the operator watch only
what it may, say precisely which rule is missing, and wait for RBAC to be fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .names import GROUP, PLURAL


@dataclass(frozen=True)
class Access:
    """One `kubectl auth can-i VERB RESOURCE -n NAMESPACE` question."""

    verb: str
    group: str
    resource: str
    namespace: str  # "" means all namespaces

    def __str__(self) -> str:
        resource = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f"in namespace {self.namespace!r}" if self.namespace else "cluster-wide"
        return f"{self.verb} {resource} {where}"


#: Without these the operator cannot see anything in a namespace.
_WATCHED = (
    (GROUP, PLURAL),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("", "configmaps"),
)
#: Without these it sees, but cannot act or report: reconciles say so in status/logs.
_WRITES = (
    ("patch", GROUP, f"{PLURAL}/status"),
    ("patch", "apps", "deployments"),
    ("patch", "apps", "statefulsets"),
    ("patch", "apps", "daemonsets"),
    ("create", "", "events"),
)


def required(namespace: str, secrets: bool) -> list[Access]:
    """Everything the operator uses in `namespace` ("" for cluster-wide)."""
    checks = [Access(verb, g, r, namespace) for g, r in _WATCHED for verb in ("list", "watch")]
    checks += [Access(verb, g, r, namespace) for verb, g, r in _WRITES]
    if secrets:
        checks += [Access(verb, "", "secrets", namespace) for verb in ("list", "watch")]
    return checks


@dataclass(frozen=True)
class StartupPlan:
    """What to watch given the answers, and what to tell the user."""

    namespaces: tuple[str, ...]  # usable; ("",) means cluster-wide
    secrets: bool
    errors: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())


def plan_startup(
    namespaces: Sequence[str], secrets: bool, allowed: Mapping[Access, bool]
) -> StartupPlan:
    """Decide from the review answers; `namespaces` empty means cluster-wide."""
    usable: list[str] = []
    errors: list[str] = []
    warnings: list[str] = []
    secrets_ok = secrets
    for namespace in namespaces or [""]:
        denied = [a for a in required(namespace, secrets) if not allowed.get(a, False)]
        fatal = [a for a in denied if a.verb in ("list", "watch") and a.resource != "secrets"]
        if fatal:
            errors.append(
                "not watching "
                + (f"namespace {namespace!r}" if namespace else "the cluster")
                + ": the operator may not "
                + "; ".join(map(str, fatal))
                + " (apply the RBAC in manifests/, or pass --namespace for a namespaced install)"
            )
            continue
        usable.append(namespace)
        if any(a.resource == "secrets" for a in denied):
            secrets_ok = False
            warnings.append(
                "--enable-secrets is set but the operator may not list/watch secrets "
                + (f"in namespace {namespace!r}" if namespace else "cluster-wide")
                + "; Secret references are reported as SecretsDisabled "
                "(apply manifests/overlays/secrets)"
            )
        writes = [a for a in denied if a.resource != "secrets"]
        if writes:
            warnings.append(
                "the operator may not "
                + "; ".join(map(str, writes))
                + ": Rollouts there will show reason Forbidden or miss Events"
            )
    return StartupPlan(tuple(usable), secrets_ok, tuple(errors), tuple(warnings))


def review_body(access: Access) -> dict[str, object]:
    """A SelfSubjectAccessReview for `access`."""
    attributes = {"verb": access.verb, "group": access.group, "namespace": access.namespace}
    resource, _, subresource = access.resource.partition("/")
    attributes["resource"] = resource
    if subresource:
        attributes["subresource"] = subresource
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }


def check_all(
    namespaces: Sequence[str], secrets: bool, ask: Callable[[Access], bool]
) -> StartupPlan:
    """Ask about every required access (blocking) and plan the start."""
    checks: Iterable[Access] = {a for ns in namespaces or [""] for a in required(ns, secrets)}
    return plan_startup(namespaces, secrets, {a: ask(a) for a in checks})
