"""The reconcile decision: observed objects in, the writes a Rollout needs out.

Everything here is pure so that every behaviour (adoption, restarts, deadlines, claims,
bad input) is a table-driven unit test; `controller.py` only fetches and writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .confighash import combined_hash
from .kubectl_status import Verdict, rollout_status
from .plan import Plan, apply_plan, plan_workload, pod_template
from .spec import ConfigRef, InvalidSpecError, RolloutSpec, parse_spec
from .status import (
    PROGRESSING_REASON,
    READY_REASON,
    Phase,
    conditions,
    parse_timestamp,
    replica_counts,
    timestamp,
)


@dataclass(frozen=True)
class Observation:
    """Everything one decision depends on, as the controller last saw it."""

    rollout: Mapping[str, Any]
    #: The target workload; None when it does not exist.
    target: Mapping[str, Any] | None
    #: Content hash of each referenced ConfigMap/Secret; None when it does not exist.
    configs: Mapping[ConfigRef, str | None]
    now: datetime
    #: Seconds until the newest referenced config change is old enough to act on.
    config_settling: float = 0.0
    #: Name of an older Rollout that already manages the same workload.
    claimed_by: str | None = None
    secrets_enabled: bool = True


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the Rollout."""

    type: str  # "Normal" | "Warning"
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    """The writes to make; None/empty means leave it alone."""

    patch: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None
    plan: Plan | None = field(default=None, compare=False)
    #: The cached target is stale: fetch it again before the next decision.
    refetch_target: bool = False
    #: The Rollout no longer exists: forget it, write nothing.
    forget: bool = False
    #: A write failed for a reason that may pass: retry with backoff.
    retry: bool = False


@dataclass(frozen=True)
class WriteFailure:
    """A decided write that the apiserver refused or never answered (status 0)."""

    what: str  # "workload" | "status"
    status: int
    message: str


#: Answers that may pass by themselves: no answer, throttling, server errors.
TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})


_FINISHED = (Phase.SUCCEEDED.value, Phase.FAILED.value)


def _meta(obj: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return (obj.get("metadata") or {}).get(key, default)


def blocked(obs: Observation, reason: str, message: str) -> Decision:
    """Stalled on input the user must fix; the rest of the status stays as it was."""
    previous = obs.rollout.get("status") or {}
    generation = int(_meta(obs.rollout, "generation", 0))
    status = {
        **previous,
        "observedGeneration": generation,
        "phase": Phase.BLOCKED.value,
        "reason": reason,
        "message": message,
        "conditions": conditions(
            previous.get("conditions") or [],
            Phase.BLOCKED,
            reason=reason,
            message=message,
            generation=generation,
            now=obs.now,
        ),
    }
    events: tuple[Event, ...] = ()
    if previous.get("phase") != Phase.BLOCKED.value or previous.get("reason") != reason:
        events = (Event("Warning", reason, message),)
    return Decision(status=status, events=events)


def _precondition_problem(obs: Observation, spec: RolloutSpec) -> tuple[str, str] | None:
    namespace = _meta(obs.rollout, "namespace", "")
    if obs.claimed_by:
        return (
            "TargetClaimed",
            f'{spec.target} is already managed by Rollout "{obs.claimed_by}"; '
            "delete one of the two Rollouts",
        )
    if obs.target is None:
        return (
            "TargetNotFound",
            f'{spec.target_kind} "{spec.target_name}" not found in namespace "{namespace}"; '
            "the rollout starts by itself once it exists",
        )
    if not obs.secrets_enabled and any(ref.kind == "Secret" for ref in spec.configs):
        return (
            "SecretsDisabled",
            "spec.restartOnChangeOf.secrets is set but the operator does not watch Secrets; "
            "run it with --enable-secrets (manifests/overlays/secrets)",
        )
    missing = [ref for ref in spec.configs if obs.configs.get(ref) is None]
    if missing:
        names = ", ".join(f'{ref.kind} "{ref.name}"' for ref in missing)
        return (
            "ConfigNotFound",
            f'{names} not found in namespace "{namespace}"; create it or remove it from '
            "spec.restartOnChangeOf",
        )
    return None


def _config_hash(obs: Observation, spec: RolloutSpec) -> str | None:
    if not spec.configs:
        return None
    return combined_hash({str(ref): obs.configs[ref] or "" for ref in spec.configs})


def _write_events(plan: Plan, spec: RolloutSpec, config_hash: str | None, prev: Any) -> list[Event]:
    events = []
    if plan.changes:
        events.append(
            Event("Normal", "ImageUpdated", "Set image " + "; ".join(map(str, plan.changes)))
        )
    if plan.restart is not None:
        if config_hash is not None and config_hash != prev.get("configHash"):
            why = "content of " + ", ".join(map(str, spec.configs)) + " changed"
        else:
            why = f"spec.restartedAt is {spec.restarted_at}"
        events.append(Event("Normal", "RestartTriggered", f"Restarting {spec.target}: {why}"))
    return events


def _images(workload: Mapping[str, Any], spec: RolloutSpec) -> list[dict[str, str]]:
    """What runs after the plan: every container, and the init containers the spec names."""
    pod = pod_template(workload).get("spec") or {}
    named = {c.name for c in spec.containers}
    containers = [c for c in pod.get("initContainers") or [] if c["name"] in named]
    containers += pod.get("containers") or []
    return [{"container": c["name"], "image": c.get("image", "")} for c in containers]


def _unobserved_foreign_change(
    workload: Mapping[str, Any], plan: Plan, prev: Mapping[str, Any], generation: int
) -> bool:
    """A finished rollout whose workload changed, by someone else, in a way not yet observed."""
    status = workload.get("status") or {}
    lagging = int(_meta(workload, "generation", 0)) > int(status.get("observedGeneration") or 0)
    return (
        lagging
        and not plan.needs_write
        and prev.get("phase") == Phase.SUCCEEDED.value
        and prev.get("observedGeneration") == generation
    )


def decide(obs: Observation) -> Decision:
    """Decide the workload patch, the new status, the events and when to look again."""
    rollout = obs.rollout
    generation = int(_meta(rollout, "generation", 0))
    prev: Mapping[str, Any] = rollout.get("status") or {}
    try:
        spec = parse_spec(rollout.get("spec") or {})
    except InvalidSpecError as error:
        return blocked(obs, error.reason, str(error))
    problem = _precondition_problem(obs, spec)
    if problem is not None:
        return blocked(obs, *problem)
    assert obs.target is not None

    config_hash = _config_hash(obs, spec)
    try:
        plan = plan_workload(
            spec,
            obs.target,
            config_hash,
            prev.get("restartTrigger"),
            adopted="startedAt" in prev,  # set once the workload was first judged
        )
    except InvalidSpecError as error:
        return blocked(obs, error.reason, str(error))
    if plan.restart is not None and obs.config_settling > 0:
        # More config edits may follow (one `kubectl apply` of several objects): wait
        # for quiet, then restart once for all of them.
        return Decision(requeue_after=obs.config_settling, plan=plan)

    after = apply_plan(obs.target, plan)
    judgement = rollout_status(spec.target_kind, after)
    if _unobserved_foreign_change(after, plan, prev, generation):
        # A Deployment's generation also moves on metadata-only edits (`kubectl annotate`).
        # Its controller catches up within milliseconds and the next event tells whether
        # a rollout really started; flapping Ready in between would only mislead.
        return Decision(plan=plan)
    counts = replica_counts(spec.target_kind, after)
    now = timestamp(obs.now)
    progressed = plan.needs_write or any(prev.get(k) != v for k, v in counts.items())
    last_progress = (
        now if progressed or "lastProgressTime" not in prev else prev["lastProgressTime"]
    )
    requeue_after: float | None = None

    if spec.target_kind == "Deployment" and (after.get("spec") or {}).get("paused"):
        phase, reason = Phase.BLOCKED, "DeploymentPaused"
        message = (
            f'deployment "{spec.target_name}" is paused; resume it with '
            f'"kubectl rollout resume deployment/{spec.target_name}"'
        )
    elif judgement.verdict is Verdict.FAILED:
        phase, reason, message = Phase.FAILED, judgement.reason, judgement.message
    elif judgement.verdict is Verdict.DONE:
        phase, reason, message = Phase.SUCCEEDED, READY_REASON, judgement.message
    else:
        phase, reason, message = Phase.PROGRESSING, PROGRESSING_REASON, judgement.message
        if spec.target_kind != "Deployment":  # Deployments enforce their own deadline
            idle = (obs.now - parse_timestamp(last_progress)).total_seconds()
            remaining = spec.progress_deadline_seconds - idle
            if remaining <= 0:
                phase, reason = Phase.FAILED, "ProgressDeadlineExceeded"
                message = (
                    f'{spec.target_kind.lower()} "{spec.target_name}" exceeded its progress '
                    f"deadline ({spec.progress_deadline_seconds}s without progress, "
                    "spec.progressDeadlineSeconds)"
                )
            else:
                requeue_after = remaining

    restarted = phase is Phase.PROGRESSING and prev.get("phase") in _FINISHED  # e.g. by hand
    new_rollout = plan.needs_write or restarted or "startedAt" not in prev
    succeeded_before = prev.get("phase") == Phase.SUCCEEDED.value and not new_rollout
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase.value,
        "reason": reason,
        "message": message,
        "target": spec.target,
        "images": _images(after, spec),
        "configHash": config_hash,
        "restartTrigger": plan.trigger,
        **counts,
        "ready": f"{counts['readyReplicas']}/{counts['replicas']}",
        "startedAt": now if new_rollout else prev["startedAt"],
        "completedAt": (
            (prev.get("completedAt") if succeeded_before else now)
            if phase is Phase.SUCCEEDED
            else None
        ),
        "lastProgressTime": last_progress,
        "conditions": conditions(
            prev.get("conditions") or [],
            phase,
            reason=reason,
            message=message,
            generation=generation,
            now=obs.now,
        ),
    }
    events = _write_events(plan, spec, config_hash, prev)
    if prev.get("phase") != phase.value or prev.get("reason") != reason:
        if phase is Phase.SUCCEEDED:
            events.append(Event("Normal", "RolloutSucceeded", message))
        elif phase in (Phase.FAILED, Phase.BLOCKED):
            events.append(Event("Warning", reason, message))
    return Decision(
        patch=plan.patch(_meta(obs.target, "resourceVersion")) if plan.needs_write else None,
        status=status,
        events=tuple(events),
        requeue_after=requeue_after,
        plan=plan,
    )


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch turning `current` status into `desired`; empty when equal."""
    patch = {k: v for k, v in desired.items() if current.get(k) != v}
    patch.update({k: None for k in current if k not in desired})
    return {k: v for k, v in patch.items() if not (v is None and k not in current)}


def after_write(obs: Observation, decision: Decision, failure: WriteFailure) -> Decision:
    """What a failed write means, decided here rather than in the shell.

    - 409 on the workload: our copy was stale (the resourceVersion precondition); fetch
      it again and decide anew, never overwrite someone else's newer change.
    - 404 on the workload: it was deleted since we looked; decide again without it.
    - 403/400/422 on the workload: nothing retrying can fix; the Rollout says why.
    - 404 on the status: the Rollout itself is gone; forget it.
    - anything transient (timeout, 429, 5xx), and other status failures: retry with backoff.
    """
    if failure.what == "workload":
        if failure.status in (404, 409):
            return Decision(refetch_target=True, requeue_after=0.0)
        if failure.status not in TRANSIENT:
            spec_target = _target_text(obs)
            if failure.status == 403:
                reason = "Forbidden"
                message = (
                    f"the operator may not patch {spec_target}: {failure.message}; grant its "
                    "ServiceAccount 'patch' on that kind (see the RBAC in manifests/)"
                )
            else:
                reason = "PatchRejected"
                message = f"the apiserver rejected the change to {spec_target}: {failure.message}"
            return blocked(obs, reason, message)
    elif failure.status == 404:
        return Decision(forget=True)
    return Decision(retry=True)


def _target_text(obs: Observation) -> str:
    ref = (obs.rollout.get("spec") or {}).get("targetRef") or {}
    namespace = _meta(obs.rollout, "namespace", "")
    return f'{ref.get("kind")} "{ref.get("name")}" in namespace "{namespace}"'
