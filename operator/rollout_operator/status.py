"""Rollout.status as a pure derivation: phase, message and kstatus conditions.

Conditions follow kstatus (`Ready`, `Reconciling`, `Stalled`), each stamped with the
Rollout generation it describes, so `kubectl wait --for=condition=Ready` and GitOps health
checks never mistake the previous spec's success for the current one's.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


class Phase(enum.StrEnum):
    """The one-word answer shown by `kubectl get rollouts`."""

    PROGRESSING = "Progressing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    BLOCKED = "Blocked"


#: Reasons on the Ready condition for the two non-error phases.
READY_REASON = "RolloutComplete"
PROGRESSING_REASON = "Progressing"


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes times."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime:
    """Inverse of `timestamp`."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _condition(
    *,
    previous: Mapping[str, Mapping[str, Any]],
    kind: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    value = "True" if status else "False"
    before = previous.get(kind) or {}
    changed = before.get("status") != value
    return {
        "type": kind,
        "status": value,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": timestamp(now) if changed else before.get("lastTransitionTime"),
    }


def conditions(
    previous: Sequence[Mapping[str, Any]],
    phase: Phase,
    *,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Ready/Reconciling/Stalled for `phase`; lastTransitionTime moves only on a flip."""
    before = {c.get("type", ""): c for c in previous}
    return [
        _condition(
            previous=before,
            kind=kind,
            status=value,
            reason=reason,
            message=message,
            generation=generation,
            now=now,
        )
        for kind, value in (
            ("Ready", phase is Phase.SUCCEEDED),
            ("Reconciling", phase is Phase.PROGRESSING),
            ("Stalled", phase in (Phase.FAILED, Phase.BLOCKED)),
        )
    ]


def replica_counts(kind: str, workload: Mapping[str, Any]) -> dict[str, int]:
    """Desired/updated/ready/available replicas, under Deployment names for every kind."""
    status = workload.get("status") or {}
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        counts = (
            status.get("updatedNumberScheduled", 0),
            status.get("numberReady", 0),
            status.get("numberAvailable", 0),
        )
    else:
        desired = (workload.get("spec") or {}).get("replicas", 1)
        counts = (
            status.get("updatedReplicas", 0),
            status.get("readyReplicas", 0),
            status.get("availableReplicas", 0),
        )
    updated, ready, available = (int(n or 0) for n in counts)
    return {
        "replicas": int(desired or 0),
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
    }
