"""Which ConfigMaps and Secrets a pod template references: the input of auto discovery.

Pure: a pod template (a workload's ``spec.template``) in, a sorted tuple of `Reference`
out, so equal templates give equal (and hashable) results and the controller can cache the
result per workload instead of the template itself.

Reference forms found, in ``containers``, ``initContainers`` and ``ephemeralContainers``
alike (the last are not allowed in workload templates today; read anyway, they cost nothing):

======================================  ==========================================
pod template field                      recorded ``where``
======================================  ==========================================
``volumes[].configMap.name``            ``volumes[NAME].configMap``
``volumes[].secret.secretName``         ``volumes[NAME].secret``
``volumes[].projected.sources[]``       ``volumes[NAME].projected.configMap`` / ``.secret``
``*containers[].envFrom[].configMapRef``  ``containers[NAME].envFrom``
``*containers[].envFrom[].secretRef``     ``containers[NAME].envFrom``
``*containers[].env[].valueFrom``         ``containers[NAME].env[VAR]``
  (``configMapKeyRef``, ``secretKeyRef``)
======================================  ==========================================

A volume counts even when no container mounts it: the kubelet still needs it to start the
pod. Deliberately *not* references: ``imagePullSecrets`` (used by the kubelet to pull, not
seen by the application, and a changed pull secret is no reason to restart running pods)
and volume-plugin credentials (``csi.nodePublishSecretRef``, ``cephfs.secretRef``, ...);
Reloader leaves both out too.

``optional`` follows Kubernetes: a reference is optional only when it says ``optional:
true``; an object referenced several times is optional only if every reference is.

The controller calls `discover` on the full workload body when it arrives (before slimming
it for the store) and keeps the result; `is_ignored` reads the opt-out annotation from a
ConfigMap's or Secret's metadata (a metadata-only watch suffices).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .names import GROUP

CONFIG_MAP: Final = "ConfigMap"
SECRET: Final = "Secret"

#: On a ConfigMap/Secret: leave it out of auto discovery (explicit names still count).
IGNORE_ANNOTATION: Final = f"{GROUP}/ignore"

_CONTAINER_FIELDS: Final = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True, order=True)
class Reference:
    """One ConfigMap or Secret the pod template needs, and where it is named."""

    kind: str  # CONFIG_MAP | SECRET
    name: str
    #: True only when every reference to it says ``optional: true``.
    optional: bool
    #: Where the template names it, sorted (for messages: "referenced by ...").
    where: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


# (kind, name, optional, where) as found, before merging.
_Found = tuple[str, str, bool, str]


def _found(kind: str, source: Any, name_field: str, where: str) -> Iterator[_Found]:
    source = _mapping(source)
    name = source.get(name_field)
    if isinstance(name, str) and name:
        yield kind, name, source.get("optional") is True, where


def _volumes(pod: Mapping[str, Any]) -> Iterator[_Found]:
    for volume in _items(pod.get("volumes")):
        at = f"volumes[{volume.get('name', '')}]"
        yield from _found(CONFIG_MAP, volume.get("configMap"), "name", f"{at}.configMap")
        yield from _found(SECRET, volume.get("secret"), "secretName", f"{at}.secret")
        for source in _items(_mapping(volume.get("projected")).get("sources")):
            yield from _found(
                CONFIG_MAP, source.get("configMap"), "name", f"{at}.projected.configMap"
            )
            yield from _found(SECRET, source.get("secret"), "name", f"{at}.projected.secret")


def _containers(pod: Mapping[str, Any]) -> Iterator[_Found]:
    for field in _CONTAINER_FIELDS:
        for container in _items(pod.get(field)):
            at = f"{field}[{container.get('name', '')}]"
            for source in _items(container.get("envFrom")):
                yield from _found(CONFIG_MAP, source.get("configMapRef"), "name", f"{at}.envFrom")
                yield from _found(SECRET, source.get("secretRef"), "name", f"{at}.envFrom")
            for var in _items(container.get("env")):
                value_from = _mapping(var.get("valueFrom"))
                where = f"{at}.env[{var.get('name', '')}]"
                yield from _found(CONFIG_MAP, value_from.get("configMapKeyRef"), "name", where)
                yield from _found(SECRET, value_from.get("secretKeyRef"), "name", where)


def discover(template: Mapping[str, Any]) -> tuple[Reference, ...]:
    """Every ConfigMap/Secret `template` (a workload's ``spec.template``) references.

    Sorted by kind then name, one entry per object; malformed parts are skipped (the
    apiserver validated the template; this must never fail on one it accepted).
    """
    pod = _mapping(_mapping(template).get("spec"))
    optional: dict[tuple[str, str], bool] = {}
    where: dict[tuple[str, str], set[str]] = {}
    for kind, name, is_optional, at in (*_volumes(pod), *_containers(pod)):
        key = (kind, name)
        optional[key] = optional.get(key, True) and is_optional
        where.setdefault(key, set()).add(at)
    return tuple(
        Reference(kind, name, optional[(kind, name)], tuple(sorted(where[(kind, name)])))
        for kind, name in sorted(optional)
    )


def is_ignored(obj: Mapping[str, Any]) -> bool:
    """Whether a ConfigMap/Secret opted out of discovery (IGNORE_ANNOTATION ``"true"``)."""
    annotations = _mapping(_mapping(obj.get("metadata")).get("annotations"))
    value = annotations.get(IGNORE_ANNOTATION)
    return isinstance(value, str) and value.strip().lower() == "true"
