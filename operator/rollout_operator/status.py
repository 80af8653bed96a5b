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
    #: Failed, and rolled back to the last good revision (spec.rollbackOnFailure).
    ROLLED_BACK = "RolledBack"


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
            ("Stalled", phase in (Phase.FAILED, Phase.BLOCKED, Phase.ROLLED_BACK)),
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


def ready_text(counts: Mapping[str, int]) -> str:
    """`up-to-date/available/desired`, each capped at desired: no `4/3` during a surge."""
    desired = counts["replicas"]
    updated = min(counts["updatedReplicas"], desired)
    return f"{updated}/{min(counts['availableReplicas'], desired)}/{desired}"


def short_image(image: str) -> str:
    """`registry:5000/team/app:v2` → `app:v2`; digests shortened to 12 hex digits."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if digest:
        algorithm, _, value = digest.partition(":")
        last += f"@{algorithm}:{value[:12]}"
    return last


def image_summary(images: Sequence[Mapping[str, str]], limit: int = 200) -> str:
    """`container=app:v2, sidecar=envoy:1.31` for the printer column (truncated)."""
    text = ", ".join(f"{i['container']}={short_image(i['image'])}" for i in images)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Status fields that only report progress; changes to these alone may be coalesced.
PROGRESS_FIELDS = frozenset(
    {
        "message",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "ready",
        "lastProgressTime",
        "conditions",
    }
)


def progress_only(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether `after` differs from `before` only in progress (no transition, no record)."""
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    if not changed or not changed <= PROGRESS_FIELDS:
        return False
    if "conditions" in changed:

        def shape(conditions: Any) -> list[tuple[Any, ...]]:
            return [(c.get("type"), c.get("status"), c.get("reason"), c.get("observedGeneration"))
                    for c in conditions or []]  # fmt: skip

        return shape(before.get("conditions")) == shape(after.get("conditions"))
    return True
