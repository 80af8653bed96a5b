"""Why a rollout failed, in one line: the new pods that are not ready, and what they say.

`kubectl rollout status` only says that the deadline passed; the cause is in the pods
(waiting/terminated reasons) and in their Events (failing probes). The operator reads both
once, when a rollout fails, and this module picks and words what matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_PODS = 3


def label_selector(workload: Mapping[str, Any]) -> str | None:
    """The workload's pod selector as a label selector string (None when it has none)."""
    selector = (workload.get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(expression.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or None


def _ready(pod: Mapping[str, Any]) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _container_problem(status: Mapping[str, Any]) -> str | None:
    state = status.get("state") or {}
    if waiting := state.get("waiting"):
        reason = waiting.get("reason") or "Waiting"
        detail = waiting.get("message")
        last = (status.get("lastState") or {}).get("terminated") or {}
        if last and reason == "CrashLoopBackOff":
            detail = f"last exit code {last.get('exitCode')} ({last.get('reason') or 'Error'})"
        return f"{reason}: {detail}" if detail else reason
    if terminated := state.get("terminated"):
        return (
            f"{terminated.get('reason') or 'Terminated'} (exit code {terminated.get('exitCode')})"
        )
    return None


def _pod_problem(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    for container in statuses:
        problem = _container_problem(container)
        if problem:
            return f'pod {name}: container "{container.get("name")}": {problem}'
    for event in reversed(events):  # the newest Warning about this pod
        involved = event.get("involvedObject") or {}
        if involved.get("name") == name and event.get("type") == "Warning":
            return f"pod {name}: {event.get('reason')}: {str(event.get('message') or '').strip()}"
    if status.get("phase") == "Pending":
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                why = condition.get("message") or condition.get("reason")
                return f"pod {name}: not scheduled: {why}"
        return f"pod {name}: Pending"
    return f"pod {name}: not ready"


def explain(
    pods: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    images: Mapping[str, str],
    since: str | None,
) -> str | None:
    """The not-ready pods of the new revision and why; None when none is found.

    New pods are those that run the revision's images (`images`: container → image) and,
    when `since` is given, were created at or after the rollout started.
    """

    def new(pod: Mapping[str, Any]) -> bool:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return False
        running = {
            c.get("name"): c.get("image") for c in (pod.get("spec") or {}).get("containers") or []
        }
        if any(running.get(name, image) != image for name, image in images.items()):
            return False
        return since is None or str(meta.get("creationTimestamp") or "") >= since

    failing = sorted(
        (p for p in pods if new(p) and not _ready(p)),
        key=lambda p: str((p.get("metadata") or {}).get("name")),
    )
    if not failing:
        return None
    ordered = sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    lines = [_pod_problem(pod, ordered) for pod in failing[:MAX_PODS]]
    more = len(failing) - MAX_PODS
    text = "; ".join(lines)
    return text + (f" (and {more} more not-ready pods)" if more > 0 else "")
