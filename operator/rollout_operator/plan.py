"""Plan the one narrow write a workload needs: container images and our restart annotation.

Pure: which images differ, whether spec.restartedAt is due, and the patch for both. The
patch touches nothing else, so GitOps tools see only the fields this operator owns change.
(Whether config content restarts the workload is decided in restarts.py.)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .names import RESTART_ANNOTATION
from .spec import InvalidSpecError, RolloutSpec

_CONFIG_HASH_CHARS = 16  # 64 bits: ample to tell content versions apart in an annotation


@dataclass(frozen=True)
class ImageChange:
    """One container whose image must change."""

    container: str
    old: str
    new: str
    init: bool = False

    def __str__(self) -> str:
        return f"{self.container}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class Plan:
    """What the workload should look like, and the smallest change that gets it there."""

    changes: tuple[ImageChange, ...] = ()
    #: The restart-annotation value to write, or None when no restart is due.
    restart: str | None = None

    @property
    def needs_write(self) -> bool:
        """Whether the workload must be patched at all."""
        return bool(self.changes) or self.restart is not None

    def patch(self, resource_version: str | None) -> dict[str, Any]:
        """A strategic merge patch; `resourceVersion` makes a stale plan fail with 409."""
        template: dict[str, Any] = {}
        if self.restart is not None:
            template["metadata"] = {"annotations": {RESTART_ANNOTATION: self.restart}}
        pod: dict[str, Any] = {}
        for field, init in (("containers", False), ("initContainers", True)):
            items = [{"name": c.container, "image": c.new} for c in self.changes if c.init == init]
            if items:
                pod[field] = items
        if pod:
            template["spec"] = pod
        patch: dict[str, Any] = {"spec": {"template": template}}
        if resource_version:
            patch["metadata"] = {"resourceVersion": resource_version}
        return patch


def restart_trigger(config_hash: str | None, restarted_at: str | None) -> str | None:
    """The restart annotation's value: it changes exactly when a restart is due."""
    parts = []
    if config_hash:
        parts.append(f"config={config_hash[:_CONFIG_HASH_CHARS]}")
    if restarted_at:
        parts.append(f"restartedAt={restarted_at}")
    return " ".join(parts) or None


def pod_template(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The workload's `spec.template` (empty when absent)."""
    return ((workload.get("spec") or {}).get("template")) or {}


def _current_images(workload: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    pod = pod_template(workload).get("spec") or {}
    found: dict[str, tuple[str, bool]] = {}
    for field, init in (("initContainers", True), ("containers", False)):
        for container in pod.get(field) or []:
            found[container["name"]] = (container.get("image", ""), init)
    return found


def image_changes(spec: RolloutSpec, workload: Mapping[str, Any]) -> tuple[ImageChange, ...]:
    """The containers whose image differs from `spec`; InvalidSpecError for unknown names."""
    current = _current_images(workload)
    missing = [c.name for c in spec.containers if c.name not in current]
    if missing:
        have = ", ".join(sorted(current)) or "none"
        raise InvalidSpecError(
            f"{spec.target} has no container named {', '.join(map(repr, missing))}; it has: {have}",
            reason="ContainerNotFound",
        )
    changes = []
    for wanted in spec.containers:
        old, init = current[wanted.name]
        new = wanted.resolve(old)
        if new != old:
            changes.append(ImageChange(wanted.name, old, new, init))
    return tuple(changes)


def restart_annotation(workload: Mapping[str, Any]) -> str | None:
    """The workload's current `rollout-operator.dev/restart` value (None: absent)."""
    annotations = (pod_template(workload).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(RESTART_ANNOTATION)
    return str(value) if value is not None else None


def restarted_at_due(
    restarted_at: str | None, baseline: str | None, annotation: str | None, *, adopted: bool
) -> bool:
    """Whether spec.restartedAt asks for a restart that has not happened yet.

    `baseline` is the restart trigger recorded in status (what is in force, or what was found
    on adoption); the first sighting never restarts. The annotation already carrying this
    value means the restart was written (a crash before the status write): not again.
    """
    if not restarted_at or not adopted:
        return False
    token = f"restartedAt={restarted_at}"
    return token not in (annotation or "").split() and token not in (baseline or "").split()


def apply_plan(workload: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    """The workload as the apiserver will return it after `plan.patch`: generation bumped."""
    result = copy.deepcopy(dict(workload))
    if not plan.needs_write:
        return result
    template = result.setdefault("spec", {}).setdefault("template", {})
    if plan.restart is not None:
        annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[RESTART_ANNOTATION] = plan.restart
    pod = template.setdefault("spec", {})
    for change in plan.changes:
        for container in pod.get("initContainers" if change.init else "containers") or []:
            if container["name"] == change.container:
                container["image"] = change.new
    metadata = result.setdefault("metadata", {})
    metadata["generation"] = int(metadata.get("generation") or 0) + 1
    return result
