"""Text for people and logs: tables, details, history and failure reports. No I/O.

Tables are laid out like kubectl's (upper-case headers, columns three spaces apart, `<none>`
for nothing) so they read the same and split on whitespace in scripts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from ..status import parse_timestamp
from .durations import format_age, format_duration
from .edits import history_of, status_images, template_images
from .judge import Look

NONE: Final = "<none>"
#: How the plugin names a Rollout in one-line results, like `deployment.apps/web`.
RESOURCE: Final = "rollout.rollout-operator.dev"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, three spaces apart; no trailing spaces."""
    cells = [list(headers), *[[c or NONE for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _age(value: str | None, now: datetime) -> str:
    if not value:
        return NONE
    try:
        return format_age((now - parse_timestamp(value)).total_seconds())
    except ValueError:
        return value


def images_text(images: Mapping[str, str]) -> str:
    """`app=repo:v2,sidecar=proxy:1.4`: every container, none left out."""
    return ",".join(f"{name}={image}" for name, image in images.items()) or NONE


def ready_text(status: Mapping[str, Any]) -> str:
    """up-to-date/available/desired, each capped at desired so a surge never shows 4/3."""
    if "replicas" not in status:
        return str(status.get("ready") or NONE)
    desired = int(status.get("replicas") or 0)
    counts = (status.get("updatedReplicas"), status.get("availableReplicas"))
    return "/".join(str(min(int(n or 0), desired)) for n in counts) + f"/{desired}"


def _target(rollout: Mapping[str, Any]) -> str:
    status = rollout.get("status") or {}
    if status.get("target"):
        return str(status["target"])
    ref = (rollout.get("spec") or {}).get("targetRef") or {}
    return f"{ref.get('kind', '?')}/{ref.get('name', '?')}"


def list_table(rollouts: Sequence[Mapping[str, Any]], now: datetime, *, namespaces: bool) -> str:
    """`kubectl rollouts list`: one row per Rollout, every container's image."""
    headers = ["NAME", "TARGET", "PHASE", "READY", "REVISION", "IMAGES", "AGE", "MESSAGE"]
    if namespaces:
        headers.insert(0, "NAMESPACE")
    rows = []
    for rollout in rollouts:
        metadata = rollout.get("metadata") or {}
        status = rollout.get("status") or {}
        row = [
            metadata.get("name", ""),
            _target(rollout),
            str(status.get("phase") or ""),
            ready_text(status),
            str(status.get("revision") or ""),
            images_text(status_images(status)),
            _age(metadata.get("creationTimestamp"), now),
            str(status.get("message") or ""),
        ]
        if namespaces:
            row.insert(0, metadata.get("namespace", ""))
        rows.append(row)
    return table(headers, rows)


def _spec_lines(spec: Mapping[str, Any]) -> list[str]:
    lines = []
    for item in spec.get("containers") or []:
        value = f"image {item['image']}" if "image" in item else f"tag {item.get('tag')}"
        lines.append(f"  container {item.get('name')}: {value}")
    refs = spec.get("restartOnChangeOf") or {}
    names = [f"ConfigMap/{n}" for n in refs.get("configMaps") or []]
    names += [f"Secret/{n}" for n in refs.get("secrets") or []]
    auto = [k for k, v in (refs.get("auto") or {}).items() if v]
    if names or auto:
        extra = f" (+ every referenced {' and '.join(auto)})" if auto else ""
        lines.append(f"  restart on change of: {', '.join(names) or NONE}{extra}")
    for key in ("restartedAt", "progressDeadlineSeconds", "rollbackOnFailure"):
        if key in spec:
            value = spec[key]
            lines.append(f"  {key}: {str(value).lower() if isinstance(value, bool) else value}")
    return lines


def details(rollout: Mapping[str, Any], workload: Mapping[str, Any] | None, now: datetime) -> str:
    """`kubectl rollouts get`: everything a person needs to know about one Rollout."""
    metadata = rollout.get("metadata") or {}
    status = rollout.get("status") or {}
    spec = rollout.get("spec") or {}
    phase = status.get("phase") or NONE
    if status.get("reason"):
        phase += f" ({status['reason']})"
    observed = status.get("observedGeneration")
    lines = [
        f"Name:        {metadata.get('name', '')}",
        f"Namespace:   {metadata.get('namespace', '')}",
        f"Target:      {_target(rollout)}",
        f"Phase:       {phase}",
        f"Message:     {status.get('message') or NONE}",
    ]
    if status.get("cause"):
        lines.append(f"Cause:       {status['cause']}")
    lines += [
        f"Ready:       {ready_text(status)} (up-to-date/available/desired)",
        f"Revision:    {status.get('revision') or NONE}",
        f"Generation:  {metadata.get('generation')} (status describes {observed})",
        f"Started:     {status.get('startedAt') or NONE}",
        f"Completed:   {status.get('completedAt') or NONE}",
    ]
    live = template_images(workload) if workload is not None else {}
    images = live or status_images(status)
    source = "workload's pod template" if live else "status"
    lines.append(f"Images ({source}):")
    lines += [f"  {name}: {image}" for name, image in images.items()] or [f"  {NONE}"]
    if workload is None:
        lines.append(f"  (the workload {_target(rollout)} was not found)")
    lines.append("Spec:")
    lines += _spec_lines(spec) or [f"  {NONE}"]
    rollback = status.get("rollback")
    if rollback:
        lines.append(
            f"Rollback:    revision {rollback.get('failedRevision')} failed; the workload runs "
            f"revision {rollback.get('toRevision')} "
            f"({images_text(status_images(rollback))}); the spec still asks for the failed one"
        )
    conflict = status.get("conflict")
    if conflict:
        lines.append(
            f"Conflict:    {conflict.get('manager')} keeps changing {conflict.get('field')} "
            f"({conflict.get('count')} times since {conflict.get('since')}); "
            f"retry at {conflict.get('retryAt')}"
        )
    conditions = status.get("conditions") or []
    lines.append("Conditions:")
    rows = [
        [
            c.get("type", ""),
            c.get("status", ""),
            c.get("reason", ""),
            str(c.get("observedGeneration", "")),
            _age(c.get("lastTransitionTime"), now),
            c.get("message", ""),
        ]
        for c in conditions
    ]
    headers = ["TYPE", "STATUS", "REASON", "GENERATION", "SINCE", "MESSAGE"]
    lines += ["  " + line for line in table(headers, rows).splitlines()] if rows else [f"  {NONE}"]
    history = history_of(status)
    lines.append("History:")
    if history:
        lines += ["  " + line for line in history_table(status).splitlines()]
    else:
        lines.append(f"  {NONE}")
    return "\n".join(lines)


def history_table(status: Mapping[str, Any]) -> str:
    """Revisions oldest first, as `kubectl rollout history` lists them, plus result and times."""
    rows = [
        [
            str(h.get("revision")),
            str(h.get("trigger") or ""),
            str(h.get("result") or ""),
            str(h.get("startedAt") or ""),
            str(h.get("completedAt") or ""),
            str(h.get("changeCause") or ""),
        ]
        for h in reversed(history_of(status))
    ]
    headers = ["REVISION", "TRIGGER", "RESULT", "STARTED", "COMPLETED", "CHANGE-CAUSE"]
    return table(headers, rows)


def history_text(name: str, status: Mapping[str, Any]) -> str:
    """`kubectl rollouts history NAME`."""
    if not history_of(status):
        return f"{RESOURCE}/{name}\nNo revisions recorded (status.history is empty)."
    return f"{RESOURCE}/{name}\n{history_table(status)}"


def revision_text(name: str, entry: Mapping[str, Any]) -> str:
    """`kubectl rollouts history NAME --revision N`: one revision in full."""
    lines = [f"{RESOURCE}/{name} with revision #{entry.get('revision')}"]
    for key, label in (
        ("trigger", "Trigger"),
        ("changeCause", "Change cause"),
        ("result", "Result"),
        ("message", "Message"),
        ("generation", "Generation"),
        ("startedAt", "Started"),
        ("completedAt", "Completed"),
        ("restartedAt", "Restarted at"),
        ("configHash", "Config hash"),
    ):
        if entry.get(key) not in (None, ""):
            lines.append(f"{label + ':':<14}{entry[key]}")
    lines.append("Images:")
    images = status_images(entry)
    lines += [f"  {n}: {i}" for n, i in images.items()] or [f"  {NONE}"]
    return "\n".join(lines)


def failure_report(name: str, look: Look) -> list[str]:
    """What a CI log must show when a rollout failed: reason, message, root cause."""
    lines = [f'error: rollout "{name}" {look.phase or "failed"}: {look.reason or "unknown reason"}']
    if look.message:
        lines.append(f"  message: {look.message}")
    if look.cause:
        lines += [f"  cause: {line}" for line in look.cause.splitlines() if line.strip()]
    if look.rollback:
        lines.append(
            f"  rolled back: revision {look.rollback.get('failedRevision')} failed; the workload "
            f"runs revision {look.rollback.get('toRevision')} again "
            f"({images_text(status_images(look.rollback))})"
        )
    return lines


def timeout_report(seconds: float, pending: Mapping[str, Look]) -> list[str]:
    """Which Rollouts were still not Ready when --timeout elapsed, and where they stood."""
    lines = [f"error: timed out after {format_duration(seconds)} waiting for the rollout to finish"]
    for name, look in pending.items():
        phase = f"{look.phase}: " if look.phase else ""
        lines.append(f'  rollout "{name}": {phase}{look.line}')
    return lines
