"""Every URL path the operator and its CLI request: the one place user input meets a URL.

Names come from Rollout specs that any namespace user may write. Each path segment is
checked to be a Kubernetes object name and percent-quoted, so `../../B/deployments/x`,
`a%2Fb` or a trailing `/x` can never address another object, namespace or resource: such
a name raises `InvalidNameError` before any request is built.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from .names import GROUP, PLURAL, VERSION, WORKLOAD_PLURALS
from .spec import is_dns1123_subdomain

CONFIG_PLURALS: Final = {"ConfigMap": "configmaps", "Secret": "secrets"}


class InvalidNameError(ValueError):
    """A namespace or object name that Kubernetes would never accept."""


def check_name(name: str, what: str = "name") -> str:
    """Return `name` if it is a valid object name (DNS-1123 subdomain), else raise."""
    if not is_dns1123_subdomain(name):
        raise InvalidNameError(
            f"invalid {what} {name!r}: must be a DNS-1123 subdomain (lowercase letters, digits, "
            "'-' and '.', starting and ending with a letter or digit, at most 253)"
        )
    return name


def _seg(name: str, what: str) -> str:
    return quote(check_name(name, what), safe="")


def _collection(prefix: str, plural: str, namespace: str | None) -> str:
    """`namespace` None: all namespaces. "" is refused, never a silent "all"."""
    if namespace is not None:
        return f"{prefix}/namespaces/{_seg(namespace, 'namespace')}/{plural}"
    return f"{prefix}/{plural}"


_CORE: Final = "/api/v1"
_APPS: Final = "/apis/apps/v1"
_ROLLOUTS: Final = f"/apis/{GROUP}/{VERSION}"
_COORDINATION: Final = "/apis/coordination.k8s.io/v1"


def rollouts(namespace: str | None = None) -> str:
    """Rollouts in `namespace`, or in all namespaces."""
    return _collection(_ROLLOUTS, PLURAL, namespace)


def rollout(namespace: str, name: str) -> str:
    """One Rollout."""
    return f"{rollouts(namespace)}/{_seg(name, 'Rollout name')}"


def rollout_status(namespace: str, name: str) -> str:
    """A Rollout's status subresource."""
    return f"{rollout(namespace, name)}/status"


def _workload_plural(kind: str) -> str:
    try:
        return WORKLOAD_PLURALS[kind]
    except KeyError:
        raise InvalidNameError(f"unsupported workload kind {kind!r}") from None


def workloads(kind: str, namespace: str | None = None) -> str:
    """Deployments, StatefulSets or DaemonSets in `namespace`, or in all namespaces."""
    return _collection(_APPS, _workload_plural(kind), namespace)


def workload(kind: str, namespace: str, name: str) -> str:
    """One Deployment, StatefulSet or DaemonSet."""
    return f"{workloads(kind, namespace)}/{_seg(name, f'{kind} name')}"


def _config_plural(kind: str) -> str:
    try:
        return CONFIG_PLURALS[kind]
    except KeyError:
        raise InvalidNameError(f"unsupported config kind {kind!r}") from None


def configs(kind: str, namespace: str | None = None) -> str:
    """ConfigMaps or Secrets in `namespace`, or in all namespaces."""
    return _collection(_CORE, _config_plural(kind), namespace)


def config(kind: str, namespace: str, name: str) -> str:
    """One ConfigMap or Secret."""
    return f"{configs(kind, namespace)}/{_seg(name, f'{kind} name')}"


def secret(namespace: str, name: str) -> str:
    """One Secret."""
    return config("Secret", namespace, name)


def secrets(namespace: str) -> str:
    """Secrets in `namespace`."""
    return configs("Secret", namespace)


def pods(namespace: str) -> str:
    """Pods in `namespace`."""
    return _collection(_CORE, "pods", namespace)


def events(namespace: str | None = None) -> str:
    """core/v1 Events in `namespace`, or in all namespaces."""
    return _collection(_CORE, "events", namespace)


def leases(namespace: str) -> str:
    """coordination.k8s.io Leases in `namespace`."""
    return _collection(_COORDINATION, "leases", namespace)


def lease(namespace: str, name: str) -> str:
    """One Lease."""
    return f"{leases(namespace)}/{_seg(name, 'Lease name')}"


SELF_SUBJECT_ACCESS_REVIEWS: Final = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
