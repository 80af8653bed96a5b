"""Judge a Rollout and its workload: the line to print now, and whether waiting is over.

The outcome comes from the Rollout's status (the operator's verdict, stamped with the
generation it describes), never from the workload alone: a workload that still runs the
previous spec looks "successfully rolled out" until the operator has written the new one.
The progress line comes from the workload, judged as `kubectl rollout status` judges it,
because the operator writes progress-only status changes at most every few seconds.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..kubectl_status import Verdict, rollout_status
from ..names import WORKLOAD_PLURALS

#: Phases after which waiting is pointless: the operator needs a new spec (or a human).
FAILED_PHASES: Final = frozenset({"Failed", "Blocked", "RolledBack"})
#: Status reasons whose message says more than a generic "waiting" line.
_ROUTINE_REASONS: Final = frozenset({"", "Progressing", "RolloutComplete"})


class State(enum.Enum):
    """Where one Rollout stands for a waiting CI script."""

    WAITING = "Waiting"
    READY = "Ready"
    FAILED = "Failed"


@dataclass(frozen=True)
class Look:
    """One look at a Rollout: its state, the progress line, and on failure the why."""

    state: State
    line: str
    #: Something the operator wants a human to know while waiting (a write conflict).
    note: str = ""
    phase: str = ""
    reason: str = ""
    message: str = ""
    cause: str = ""
    rollback: Mapping[str, Any] = field(default_factory=dict)


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or [] if isinstance(c, Mapping)}


def _is_current(condition: Mapping[str, Any], status: Mapping[str, Any], generation: Any) -> bool:
    """True when `condition` describes `generation` (older writers stamp only the status)."""
    observed = condition.get("observedGeneration", status.get("observedGeneration"))
    return generation is not None and bool(observed == generation)


def _conflict_note(status: Mapping[str, Any]) -> str:
    conflict = status.get("conflict")
    if not isinstance(conflict, Mapping) or not conflict:
        return ""
    manager = conflict.get("manager") or "another writer"
    field_ = conflict.get("field") or "a field this Rollout owns"
    note = f"conflict: {manager} keeps changing {field_}"
    if conflict.get("count"):
        note += f" ({conflict['count']} times)"
    if conflict.get("retryAt"):
        note += f"; the operator retries at {conflict['retryAt']}"
    return note


def judge(rollout: Mapping[str, Any], workload: Mapping[str, Any] | None) -> Look:
    """Judge `rollout` (a Rollout object) given its target `workload` (None: not read/found)."""
    metadata = rollout.get("metadata") or {}
    name = metadata.get("name", "")
    generation = metadata.get("generation")
    status = rollout.get("status") or {}
    conditions = _conditions(status)
    phase = status.get("phase") or ""
    reason = status.get("reason") or ""
    message = status.get("message") or ""
    observed = status.get("observedGeneration") == generation
    kind = ((rollout.get("spec") or {}).get("targetRef") or {}).get("kind", "")
    judged = (
        rollout_status(kind, workload)
        if workload is not None and kind in WORKLOAD_PLURALS
        else None
    )

    stalled = conditions.get("Stalled") or {}
    if (observed and phase in FAILED_PHASES) or (
        stalled.get("status") == "True" and _is_current(stalled, status, generation)
    ):
        return Look(
            State.FAILED,
            line=message or f'rollout "{name}" is {phase or "stalled"}',
            phase=phase or "Stalled",
            reason=reason or stalled.get("reason", ""),
            message=message or stalled.get("message", ""),
            cause=status.get("cause") or "",
            rollback=status.get("rollback") or {},
        )

    ready = conditions.get("Ready") or {}
    if ready.get("status") == "True" and _is_current(ready, status, generation):
        done = judged.message if judged is not None and judged.verdict is Verdict.DONE else ""
        return Look(
            State.READY,
            line=done or message or f'rollout "{name}" is Ready',
            phase=phase,
            reason=reason,
            message=message,
        )

    note = _conflict_note(status)
    if not observed:
        line = f'Waiting for rollout "{name}" spec update to be observed...'
    elif reason not in _ROUTINE_REASONS and message:
        line = message  # e.g. RestartPending: the workload has not been restarted yet
    elif judged is None:
        line = message or f'Waiting for rollout "{name}" to start...'
    elif judged.verdict is Verdict.DONE:
        # The workload is settled but the operator has not confirmed this generation.
        line = f'Waiting for rollout "{name}" to be Ready...'
    else:
        line = judged.message
    return Look(State.WAITING, line=line, note=note, phase=phase, reason=reason, message=message)


def overall(looks: Iterable[Look]) -> State:
    """FAILED if any failed, READY if all are ready, else WAITING."""
    states = [look.state for look in looks]
    if State.FAILED in states:
        return State.FAILED
    if states and all(state is State.READY for state in states):
        return State.READY
    return State.WAITING


class Progress:
    """Which lines to print: each Rollout's line and note, only when they change."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = list(names)
        self._last: dict[str, tuple[str, str]] = {}

    def lines(self, looks: Mapping[str, Look]) -> list[str]:
        """The new lines for `looks`; prefixed with the Rollout's name when there are several."""
        out: list[str] = []
        prefix = len(self._names) > 1
        for name in self._names:
            look = looks.get(name)
            if look is None:
                continue
            seen = (look.line, look.note)
            before = self._last.get(name)
            self._last[name] = seen
            for text, previous in (
                (look.line, before and before[0]),
                (look.note, before and before[1]),
            ):
                if text and text != previous:
                    out.append(f"rollout/{name}: {text}" if prefix else text)
        return out

    def last_line(self, name: str) -> str:
        """The last line printed for `name` ("" before the first)."""
        return self._last.get(name, ("", ""))[0]
