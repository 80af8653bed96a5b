"""Revisions: what each rollout of a Rollout asked for, why, when, and how it ended.

Kept newest first in `status.history` (at most spec.revisionHistoryLimit entries) and
numbered by `status.revision`. `kubectl rollouts history` reads them and `undo` writes one
back into the spec; `rollbackOnFailure` rolls back to the newest one that succeeded.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class Trigger(enum.StrEnum):
    """What started a revision."""

    IMAGE = "Image"
    CONFIG = "Config"
    RESTART = "Restart"
    ROLLBACK = "Rollback"
    ADOPTED = "Adopted"
    #: The workload's template changed by someone else (e.g. `kubectl rollout restart`).
    EXTERNAL = "External"


class Result(enum.StrEnum):
    """How a revision ended (Progressing while it runs)."""

    PROGRESSING = "Progressing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ROLLED_BACK = "RolledBack"
    SUPERSEDED = "Superseded"


@dataclass(frozen=True)
class Start:
    """A new revision: why it started and what it runs."""

    trigger: Trigger
    change_cause: str
    images: Sequence[Mapping[str, str]]
    generation: int
    config_hash: str | None = None
    restarted_at: str | None = None


def start(
    status: Mapping[str, Any], new: Start, now: str, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """The revision number and history after `new` starts; a running one is Superseded."""
    revision = int(status.get("revision") or 0) + 1
    history = [dict(entry) for entry in status.get("history") or []]
    if history and history[0].get("result") == Result.PROGRESSING.value:
        history[0].update(result=Result.SUPERSEDED.value, completedAt=now)
    entry: dict[str, Any] = {
        "revision": revision,
        "images": [dict(image) for image in new.images],
        "trigger": new.trigger.value,
        "changeCause": new.change_cause,
        "generation": new.generation,
        "startedAt": now,
        "result": Result.PROGRESSING.value,
    }
    if new.config_hash:
        entry["configHash"] = new.config_hash
    if new.restarted_at:
        entry["restartedAt"] = new.restarted_at
    return revision, [entry, *history][:limit]


def finish(
    history: Sequence[Mapping[str, Any]], revision: int, result: Result, message: str, now: str
) -> list[dict[str, Any]]:
    """History with `revision` ended as `result` (unchanged when it already says so)."""
    updated = [dict(entry) for entry in history]
    for entry in updated:
        if entry.get("revision") == revision and entry.get("result") != result.value:
            entry.update(result=result.value, message=message)
            if result is Result.PROGRESSING:
                entry.pop("completedAt", None)
            else:
                entry["completedAt"] = now
    return updated


def last_succeeded(history: Sequence[Mapping[str, Any]], before: int) -> Mapping[str, Any] | None:
    """The newest revision older than `before` that rolled out successfully."""
    for entry in history:
        if int(entry.get("revision") or 0) < before and entry.get("result") == "Succeeded":
            return entry
    return None


def change_cause(
    changes: Sequence[str], config_changed: Sequence[str], restarted_at: str | None
) -> str:
    """`kubectl rollout history`'s CHANGE-CAUSE: what this revision changed, in words."""
    parts = []
    if changes:
        parts.append("set image " + "; ".join(changes))
    if config_changed:
        parts.append("content of " + ", ".join(config_changed) + " changed")
    if restarted_at and not changes and not config_changed:
        parts.append(f"spec.restartedAt set to {restarted_at}")
    return "; ".join(parts)
