"""Fights over a field a Rollout owns: notice them, stop writing back, say who the other is.

A GitOps tool or a script that keeps setting a container's image to something else would
otherwise meet an operator that sets it back every time, forever: two writers, endless
rollouts, and a status claiming success. A *revert* is seen when the workload no longer
runs an image this Rollout already applied for its current generation. `threshold` reverts
with less than `window` seconds between them start a hold: no more writes, phase Blocked
with reason FieldConflict naming the other field manager (from managedFields), one Event.
At `retryAt` the operator writes once more; another revert doubles the wait.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .names import FIELD_MANAGER
from .status import parse_timestamp, timestamp

REASON = "FieldConflict"


@dataclass(frozen=True)
class ConflictSettings:
    """--conflict-threshold / --conflict-window, and the hold's backoff (seconds)."""

    threshold: int = 3
    window: float = 60.0
    backoff_initial: float = 30.0
    backoff_max: float = 600.0


def image_managers(managed_fields: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    """Container name → the other field manager that last set its image (not us)."""
    owners: dict[str, tuple[str, str]] = {}
    for entry in managed_fields or []:
        manager = str(entry.get("manager") or "")
        if not manager or manager == FIELD_MANAGER:
            continue
        spec = ((entry.get("fieldsV1") or {}).get("f:spec") or {}).get("f:template") or {}
        pod = spec.get("f:spec") or {}
        for field in ("f:containers", "f:initContainers"):
            for key, fields in (pod.get(field) or {}).items():
                if not key.startswith("k:") or "f:image" not in (fields or {}):
                    continue
                try:
                    name = str(json.loads(key[2:]).get("name"))
                except (ValueError, AttributeError):
                    continue
                when = str(entry.get("time") or "")
                if name not in owners or when >= owners[name][1]:
                    owners[name] = (manager, when)
    return {name: manager for name, (manager, _) in owners.items()}


@dataclass(frozen=True)
class Verdict:
    """What to do about a possible fight."""

    #: status.conflict after this decision (None: no fight recorded).
    record: dict[str, Any] | None
    #: Do not write the workload now.
    hold: bool = False
    #: The hold just started (post one Event, count the metric).
    started: bool = False
    #: Seconds until the next write-back attempt, while holding.
    retry_after: float | None = None
    #: This write restores what we already applied (not a new revision).
    restoring: bool = False

    def message(self, target: str) -> str:
        """The Blocked message while holding."""
        record = self.record or {}
        return (
            f"{record.get('field')} of {target} keeps being changed by field manager "
            f'"{record.get("manager")}" ({record.get("count")} times, each within '
            f"the conflict window); the operator stopped writing it back and tries again at "
            f"{record.get('retryAt')}. Stop the other writer (e.g. leave image out of the "
            "manifest it applies) or delete this Rollout"
        )


def judge(
    previous: Mapping[str, Any],
    reverted: Sequence[str],
    managers: Mapping[str, str],
    now: datetime,
    settings: ConflictSettings,
) -> Verdict:
    """Judge the containers whose already-applied image was `reverted` by someone else.

    `previous` is the Rollout's status before this decision.
    """
    record = dict(previous.get("conflict") or {})
    holding = bool(record.get("retryAt")) and _age(record.get("retryAt"), now) < 0
    if not reverted:  # the workload runs what we want: no hold, the record fades
        if record and _age(record.get("lastSeen"), now) > settings.window:
            return Verdict(None)
        return Verdict(record or None)
    if holding:
        return Verdict(record, hold=True, retry_after=_wait(record, now))
    if record.get("retryAt"):  # the hold is over: write back once more, as a probe
        record.pop("retryAt")
        record["lastSeen"] = timestamp(now)
        return Verdict(record, restoring=True)
    container = reverted[0]
    same_episode = bool(record) and _age(record.get("lastSeen"), now) <= settings.window
    count = int(record.get("count") or 0) + 1 if same_episode else 1
    record = {
        "manager": managers.get(container, "unknown"),
        "field": f'image of container "{container}"',
        "count": count,
        "since": record.get("since") if same_episode else timestamp(now),
        "lastSeen": timestamp(now),
    }
    if count < settings.threshold:
        return Verdict(record, restoring=True)
    wait = min(settings.backoff_initial * 2 ** (count - settings.threshold), settings.backoff_max)
    record["retryAt"] = timestamp(now + timedelta(seconds=wait))
    return Verdict(record, hold=True, started=True, retry_after=wait, restoring=True)


def _age(value: Any, now: datetime) -> float:
    """Seconds since `value` (a timestamp); huge when absent."""
    if not value:
        return float("inf")
    return (now - parse_timestamp(str(value))).total_seconds()


def _wait(record: Mapping[str, Any], now: datetime) -> float:
    return max(0.0, -_age(record.get("retryAt"), now))
