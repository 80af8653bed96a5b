"""The Rollout spec as a typed value, checked beyond what the CRD schema can express.

The apiserver's schema rejects most bad input at `kubectl apply`; this module is the second
line for objects stored before a schema change (or under a CRD someone loosened), and the
single reader of spec fields. Every name that ends up in a URL path or an API lookup is held
to the exact rule Kubernetes applies to that kind's names, so no spec can smuggle `/`, `..`,
`%2F` or look-alike characters into a request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .images import InvalidImageError, parse_image, with_tag
from .names import WORKLOAD_PLURALS

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_REVISION_HISTORY_LIMIT = 10

#: k8s.io/apimachinery/pkg/util/validation: IsDNS1123Label / IsDNS1123Subdomain.
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
_LABEL = "[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
# Explicit ASCII classes and fullmatch: no Unicode digits/letters, no "$ before a newline".
_DNS1123_LABEL = re.compile(_LABEL, re.ASCII)
_DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*", re.ASCII)

_SUBDOMAIN_RULE = (
    "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending "
    f"with a letter or digit, at most {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
)
_LABEL_RULE = (
    "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a "
    f"letter or digit, at most {DNS1123_LABEL_MAX_LENGTH} characters"
)


class InvalidSpecError(ValueError):
    """The spec cannot be acted on; the message says which field and how to fix it."""

    def __init__(self, message: str, reason: str = "InvalidSpec") -> None:
        super().__init__(message)
        self.reason = reason


def is_dns1123_subdomain(value: object) -> bool:
    """The rule for Deployment, StatefulSet, DaemonSet, ConfigMap and Secret names."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= DNS1123_SUBDOMAIN_MAX_LENGTH
        and _DNS1123_SUBDOMAIN.fullmatch(value) is not None
    )


def is_dns1123_label(value: object) -> bool:
    """The rule for container names."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= DNS1123_LABEL_MAX_LENGTH
        and _DNS1123_LABEL.fullmatch(value) is not None
    )


def _shown(value: object) -> str:
    """`value` for an error message: escaped (look-alikes show as \\uXXXX), long ones cut."""
    if not isinstance(value, str):
        return f"of type {type(value).__name__}"
    if len(value) > 80:
        return f"{value[:60]!a}... ({len(value)} characters)"
    return ascii(value)


def _check_name(where: str, value: object, what: str, label: bool = False) -> str:
    """`value` if it is a valid name for `what`, else InvalidSpecError saying the rule."""
    if label:
        if is_dns1123_label(value):
            return str(value)
        rule = _LABEL_RULE
    else:
        if is_dns1123_subdomain(value):
            return str(value)
        rule = _SUBDOMAIN_RULE
    raise InvalidSpecError(f"{where} {_shown(value)} is not a valid {what} name: it must be {rule}")


@dataclass(frozen=True)
class ContainerImage:
    """One `containers[]` entry: a full image, or only a new tag for the current one."""

    name: str
    image: str | None = None
    tag: str | None = None

    def resolve(self, current: str) -> str:
        """The image this container should run, given the one it runs now."""
        if self.image is not None:
            return self.image
        assert self.tag is not None  # guaranteed by parse_spec
        return with_tag(current, self.tag)


@dataclass(frozen=True)
class ConfigRef:
    """A ConfigMap or Secret whose content change restarts the workload."""

    kind: str  # "ConfigMap" | "Secret"
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class RolloutSpec:
    """What a Rollout asks for."""

    target_kind: str
    target_name: str
    containers: tuple[ContainerImage, ...] = ()
    configs: tuple[ConfigRef, ...] = ()
    restarted_at: str | None = None
    progress_deadline_seconds: int = DEFAULT_PROGRESS_DEADLINE_SECONDS
    #: spec.restartOnChangeOf.auto: discover ConfigMaps / Secrets from the pod template.
    auto_config_maps: bool = False
    auto_secrets: bool = False
    rollback_on_failure: bool = False
    revision_history_limit: int = DEFAULT_REVISION_HISTORY_LIMIT

    @property
    def target(self) -> str:
        """`Kind/name`, as people write it in messages."""
        return f"{self.target_kind}/{self.target_name}"


def _containers(items: Any) -> tuple[ContainerImage, ...]:
    result: list[ContainerImage] = []
    seen: set[str] = set()
    if not isinstance(items or [], list):
        raise InvalidSpecError("spec.containers must be a list")
    for index, item in enumerate(items or []):
        where = f"spec.containers[{index}]"
        name = item.get("name") if isinstance(item, Mapping) else None
        if not name:
            raise InvalidSpecError(f"{where}.name is required")
        name = _check_name(f"{where}.name", name, "container", label=True)
        if name in seen:
            raise InvalidSpecError(f"{where}.name {name!r} is listed twice")
        seen.add(name)
        image, tag = item.get("image"), item.get("tag")
        if (image is None) == (tag is None):
            raise InvalidSpecError(f"{where} needs exactly one of 'image' or 'tag'")
        try:
            if image is not None:
                parse_image(image)
            else:
                with_tag("placeholder", tag)
        except InvalidImageError as error:
            raise InvalidSpecError(f"{where}: {error}") from None
        result.append(ContainerImage(name, image, tag))
    return tuple(result)


def _configs(refs: Any) -> tuple[ConfigRef, ...]:
    refs = refs or {}
    if not isinstance(refs, Mapping):
        raise InvalidSpecError("spec.restartOnChangeOf must be an object")
    result: list[ConfigRef] = []
    for kind, field in (("ConfigMap", "configMaps"), ("Secret", "secrets")):
        names = refs.get(field) or []
        if not isinstance(names, list):
            raise InvalidSpecError(f"spec.restartOnChangeOf.{field} must be a list of names")
        for index, name in enumerate(names):
            where = f"spec.restartOnChangeOf.{field}[{index}]"
            result.append(ConfigRef(kind, _check_name(where, name, kind)))
    return tuple(dict.fromkeys(result))  # drop duplicates, keep order


def parse_spec(spec: Mapping[str, Any]) -> RolloutSpec:
    """Read and check a Rollout's `spec`; raise InvalidSpecError saying what to fix."""
    target = spec.get("targetRef") or {}
    if not isinstance(target, Mapping):
        raise InvalidSpecError("spec.targetRef must be an object with kind and name")
    kind, name = target.get("kind"), target.get("name")
    if not name:
        raise InvalidSpecError("spec.targetRef.name is required")
    if kind not in WORKLOAD_PLURALS:
        supported = ", ".join(WORKLOAD_PLURALS)
        raise InvalidSpecError(
            f"spec.targetRef.kind {kind!r} is not supported; use one of {supported}",
            reason="UnsupportedTargetKind",
        )
    name = _check_name("spec.targetRef.name", name, kind)
    deadline = spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_SECONDS)
    if not isinstance(deadline, int) or deadline < 1:
        raise InvalidSpecError("spec.progressDeadlineSeconds must be a positive integer")
    limit = spec.get("revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT)
    if not isinstance(limit, int) or not 0 <= limit <= 50:
        raise InvalidSpecError("spec.revisionHistoryLimit must be an integer from 0 to 50")
    configs = _configs(spec.get("restartOnChangeOf"))  # checks it is an object
    auto = (spec.get("restartOnChangeOf") or {}).get("auto") or {}
    if not isinstance(auto, Mapping):
        raise InvalidSpecError("spec.restartOnChangeOf.auto must be an object")
    return RolloutSpec(
        target_kind=kind,
        target_name=name,
        containers=_containers(spec.get("containers")),
        configs=configs,
        restarted_at=spec.get("restartedAt") or None,
        progress_deadline_seconds=deadline,
        auto_config_maps=auto.get("configMaps") is True,
        auto_secrets=auto.get("secrets") is True,
        rollback_on_failure=spec.get("rollbackOnFailure") is True,
        revision_history_limit=limit,
    )
