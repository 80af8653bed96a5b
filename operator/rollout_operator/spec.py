"""The Rollout spec as a typed value, checked beyond what the CRD schema can express.

The apiserver's schema rejects most bad input at `kubectl apply`; this module is the second
line for objects stored before a schema change, and the single reader of spec fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .images import InvalidImageError, parse_image, with_tag
from .names import WORKLOAD_PLURALS

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_REVISION_HISTORY_LIMIT = 10


class InvalidSpecError(ValueError):
    """The spec cannot be acted on; the message says which field and how to fix it."""

    def __init__(self, message: str, reason: str = "InvalidSpec") -> None:
        super().__init__(message)
        self.reason = reason


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
    for index, item in enumerate(items or []):
        where = f"spec.containers[{index}]"
        name = item.get("name") if isinstance(item, Mapping) else None
        if not name:
            raise InvalidSpecError(f"{where}.name is required")
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
    result = [ConfigRef("ConfigMap", name) for name in refs.get("configMaps") or []]
    result += [ConfigRef("Secret", name) for name in refs.get("secrets") or []]
    return tuple(dict.fromkeys(result))  # drop duplicates, keep order


def parse_spec(spec: Mapping[str, Any]) -> RolloutSpec:
    """Read and check a Rollout's `spec`; raise InvalidSpecError saying what to fix."""
    target = spec.get("targetRef") or {}
    kind, name = target.get("kind"), target.get("name")
    if not name:
        raise InvalidSpecError("spec.targetRef.name is required")
    if kind not in WORKLOAD_PLURALS:
        supported = ", ".join(WORKLOAD_PLURALS)
        raise InvalidSpecError(
            f"spec.targetRef.kind {kind!r} is not supported; use one of {supported}",
            reason="UnsupportedTargetKind",
        )
    deadline = spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_SECONDS)
    if not isinstance(deadline, int) or deadline < 1:
        raise InvalidSpecError("spec.progressDeadlineSeconds must be a positive integer")
    limit = spec.get("revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT)
    if not isinstance(limit, int) or not 0 <= limit <= 50:
        raise InvalidSpecError("spec.revisionHistoryLimit must be an integer from 0 to 50")
    auto = (spec.get("restartOnChangeOf") or {}).get("auto") or {}
    return RolloutSpec(
        target_kind=kind,
        target_name=name,
        containers=_containers(spec.get("containers")),
        configs=_configs(spec.get("restartOnChangeOf")),
        restarted_at=spec.get("restartedAt") or None,
        progress_deadline_seconds=deadline,
        auto_config_maps=auto.get("configMaps") is True,
        auto_secrets=auto.get("secrets") is True,
        rollback_on_failure=spec.get("rollbackOnFailure") is True,
        revision_history_limit=limit,
    )
