"""The spec edits behind `set image`, `restart` and `undo`, computed without I/O.

Every edit writes the Rollout's spec and nothing else: the operator carries it to the
workload. So `undo` leaves the Rollout out of step with a GitOps source (Argo CD and Flux
show drift) until the same images are committed there, which is the honest outcome.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..images import TAG_PATTERN, InvalidImageError, parse_image
from ..status import timestamp

_TAG_RE = re.compile(TAG_PATTERN)


class EditError(ValueError):
    """The edit cannot be made as asked; the message says why and what exists."""


@dataclass(frozen=True)
class ImageChange:
    """One `container=image` or `container=:tag` argument."""

    container: str
    image: str | None = None
    tag: str | None = None

    def entry(self) -> dict[str, str]:
        """The spec.containers[] item this change writes."""
        if self.image is not None:
            return {"name": self.container, "image": self.image}
        assert self.tag is not None
        return {"name": self.container, "tag": self.tag}


def parse_image_changes(args: Sequence[str]) -> list[ImageChange]:
    """Parse `container=image` / `container=:tag` arguments; ValueError says what is wrong."""
    changes: dict[str, ImageChange] = {}
    for arg in args:
        container, sep, value = arg.partition("=")
        if not sep or not container or not value:
            raise ValueError(f"{arg!r}: expected CONTAINER=IMAGE or CONTAINER=:TAG")
        if container in changes:
            raise ValueError(f"container {container!r} is given twice")
        if value.startswith(":"):
            tag = value[1:]
            if not _TAG_RE.match(tag):
                raise ValueError(f"{arg!r}: invalid tag {tag!r}")
            changes[container] = ImageChange(container, tag=tag)
        else:
            try:
                parse_image(value)
            except InvalidImageError as error:
                raise ValueError(f"{arg!r}: {error}") from None
            changes[container] = ImageChange(container, image=value)
    return list(changes.values())


def template_images(workload: Mapping[str, Any]) -> dict[str, str]:
    """Container name -> image of a workload's pod template (containers, then init)."""
    pod = (((workload.get("spec") or {}).get("template") or {}).get("spec")) or {}
    return {
        c["name"]: c.get("image", "")
        for key in ("containers", "initContainers")
        for c in pod.get(key) or []
        if isinstance(c, Mapping) and c.get("name")
    }


def _entries(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(c) for c in spec.get("containers") or [] if isinstance(c, Mapping)]


def set_images(
    spec: Mapping[str, Any],
    changes: Sequence[ImageChange],
    known: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The new spec.containers: named entries replaced, new ones appended, order kept.

    `known` (the workload's container names, when it could be read) turns a typo into an
    error here instead of a Blocked Rollout later.
    """
    if known is not None:
        unknown = [c.container for c in changes if c.container not in known]
        if unknown:
            raise EditError(
                f"unable to find container named {', '.join(map(repr, unknown))} in the "
                f"workload's pod template (it has: {', '.join(sorted(known)) or 'none'})"
            )
    result = _entries(spec)
    index = {entry.get("name"): i for i, entry in enumerate(result)}
    for change in changes:
        if change.container in index:
            result[index[change.container]] = change.entry()
        else:
            index[change.container] = len(result)
            result.append(change.entry())
    return result


def restart_value(now: datetime, current: str | None) -> str:
    """A new spec.restartedAt: now, in Kubernetes' time format, never equal to `current`."""
    value = timestamp(now)
    if value == current:  # a second restart within the same second must still restart
        value = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _images(entry: Mapping[str, Any]) -> dict[str, str]:
    return {
        i["container"]: i.get("image", "")
        for i in entry.get("images") or []
        if isinstance(i, Mapping) and i.get("container")
    }


def history_of(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """status.history, newest first, keeping only entries with a revision number."""
    return [
        h
        for h in status.get("history") or []
        if isinstance(h, Mapping) and isinstance(h.get("revision"), int)
    ]


def find_revision(status: Mapping[str, Any], revision: int) -> Mapping[str, Any]:
    """The history entry of `revision`; EditError naming the revisions there are."""
    history = history_of(status)
    for entry in history:
        if entry["revision"] == revision:
            return entry
    have = ", ".join(str(h["revision"]) for h in history) or "none"
    raise EditError(f"revision {revision} not found in status.history (revisions: {have})")


def undo_target(status: Mapping[str, Any], to_revision: int | None) -> Mapping[str, Any]:
    """The history entry `undo` restores.

    With `to_revision`: that one. Without: like `kubectl rollout undo`, the previous
    revision, skipping those that only restarted (same images as the current one).
    """
    if to_revision is not None:
        return find_revision(status, to_revision)
    history = history_of(status)
    if not history:
        raise EditError(
            "status.history is empty: nothing to undo to (the operator records revisions "
            "as they roll out)"
        )
    current = status.get("revision", history[0]["revision"])
    current_entry = next((h for h in history if h["revision"] == current), history[0])
    current_images = _images(current_entry)
    for entry in history:
        if entry["revision"] < current and _images(entry) != current_images:
            return entry
    raise EditError(
        f"no revision before {current} ran other images: nothing to undo to "
        "(see `kubectl rollouts history`)"
    )


def undo_containers(
    spec: Mapping[str, Any],
    current_images: Mapping[str, str],
    entry: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """spec.containers that ask for the images of history `entry`, as full references.

    Containers the spec names get the entry's image; containers it does not name are
    added only where the entry's image differs from what runs now, so undo does not start
    managing containers it never touched.
    """
    target = _images(entry)
    result: list[dict[str, Any]] = []
    named: set[str] = set()
    for item in _entries(spec):
        name = item.get("name")
        named.add(str(name))
        result.append({"name": name, "image": target[name]} if name in target else item)
    for name, image in target.items():
        if name not in named and current_images.get(name) != image:
            result.append({"name": name, "image": image})
    return result


def status_images(status: Mapping[str, Any]) -> dict[str, str]:
    """status.images as container -> image."""
    return _images(status)


def containers_patch(
    containers: Sequence[Mapping[str, Any]], resource_version: str
) -> dict[str, Any]:
    """A JSON merge patch of spec.containers, conditional on `resource_version`.

    A merge patch replaces the whole list; the resourceVersion turns a concurrent edit
    into a 409 Conflict (then re-read and retry) instead of a lost update.
    """
    return {
        "metadata": {"resourceVersion": resource_version},
        "spec": {"containers": [dict(c) for c in containers]},
    }


def restart_patch(value: str) -> dict[str, Any]:
    """A JSON merge patch setting spec.restartedAt."""
    return {"spec": {"restartedAt": value}}
