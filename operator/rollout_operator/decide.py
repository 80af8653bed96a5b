"""The reconcile decision: observed objects in, the writes a Rollout needs out.

Everything here is pure so that every behaviour (adoption, restarts, deadlines, claims,
history, rollback, fights, bad input, failed writes) is a table-driven unit test;
`controller.py` only fetches and writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from . import conflicts, history
from .conflicts import ConflictSettings
from .history import Result, Trigger
from .kubectl_status import Verdict, rollout_status
from .plan import (
    Plan,
    apply_plan,
    image_changes,
    pod_template,
    restart_annotation,
    restart_trigger,
    restarted_at_due,
)
from .restarts import Observed, RestartDecision, decide_restart
from .spec import ConfigRef, ContainerImage, InvalidSpecError, RolloutSpec, parse_spec
from .status import (
    PROGRESSING_REASON,
    READY_REASON,
    Phase,
    conditions,
    image_summary,
    parse_timestamp,
    progress_only,
    ready_text,
    replica_counts,
    timestamp,
)

RESTART_PENDING_REASON = "RestartPending"
ADOPTED_CAUSE = "adopted: the workload as the Rollout found it"
ROLLED_BACK_REASON = "RolledBack"


@dataclass(frozen=True)
class Observation:
    """Everything one decision depends on, as the controller last saw it."""

    rollout: Mapping[str, Any]
    #: The target workload; None when it does not exist.
    target: Mapping[str, Any] | None
    #: Each referenced ConfigMap/Secret (named or discovered); None when it does not exist.
    configs: Mapping[ConfigRef, Observed | None]
    now: datetime
    #: Seconds until the newest referenced config change is old enough to act on.
    config_settling: float = 0.0
    #: Name of an older Rollout that already manages the same workload.
    claimed_by: str | None = None
    secrets_enabled: bool = True
    #: Seconds since this process last wrote the Rollout's status (None: not yet).
    since_status_write: float | None = None
    #: Minimum seconds between progress-only status writes (--status-interval).
    status_interval: float = 0.0
    conflict_settings: ConflictSettings = field(default_factory=ConflictSettings)


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
    #: The cached Rollout is stale (its status write met a newer version): fetch it again.
    refetch_rollout: bool = False
    #: The Rollout no longer exists: forget it, write nothing.
    forget: bool = False
    #: A write failed for a reason that may pass: retry with backoff.
    retry: bool = False
    #: A rollout just failed: read the pods running these images (container → image) and
    #: their Events once, and fill status.cause.
    explain: Mapping[str, str] | None = None
    #: A field fight just started a hold (count it).
    conflict_started: bool = False


@dataclass(frozen=True)
class WriteFailure:
    """A decided write that the apiserver refused or never answered (status 0)."""

    what: str  # "workload" | "status"
    status: int
    message: str


#: Answers that may pass by themselves: no answer, throttling, server errors.
TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})

_FINISHED = (Phase.SUCCEEDED.value, Phase.FAILED.value, Phase.ROLLED_BACK.value)
_FAILED = (Phase.FAILED, Phase.ROLLED_BACK)


def _meta(obj: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return (obj.get("metadata") or {}).get(key, default)


def blocked(
    obs: Observation, reason: str, message: str, extra: Mapping[str, Any] | None = None
) -> Decision:
    """Stalled on input the user must fix; the rest of the status stays as it was."""
    previous = obs.rollout.get("status") or {}
    generation = int(_meta(obs.rollout, "generation", 0))
    status = {
        **previous,
        **(extra or {}),
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
    secrets = spec.auto_secrets or any(ref.kind == "Secret" for ref in spec.configs)
    if not obs.secrets_enabled and secrets:
        return (
            "SecretsDisabled",
            "spec.restartOnChangeOf asks for Secrets but the operator does not watch Secrets; "
            "run it with --enable-secrets (manifests/overlays/secrets)",
        )
    return None


def _auto_kinds(spec: RolloutSpec) -> tuple[str, ...]:
    kinds = (("ConfigMap", spec.auto_config_maps), ("Secret", spec.auto_secrets))
    return tuple(kind for kind, wanted in kinds if wanted)


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
        and prev.get("phase") in (Phase.SUCCEEDED.value, Phase.ROLLED_BACK.value)
        and prev.get("observedGeneration") == generation
    )


def _still_rolling(prev: Mapping[str, Any]) -> bool:
    """Whether the revision in force was still rolling out at the last status write."""
    current = prev.get("revision")
    return any(
        entry.get("revision") == current and entry.get("result") == Result.PROGRESSING.value
        for entry in prev.get("history") or []
    )


def _rollback(prev: Mapping[str, Any], generation: int) -> Mapping[str, Any] | None:
    """The rollback in force for this generation (None when the spec rules)."""
    record: Mapping[str, Any] | None = prev.get("rollback") or None
    if record and int(record.get("generation") or -1) == generation:
        return record
    return None


def _with_images(spec: RolloutSpec, images: Sequence[Mapping[str, str]]) -> RolloutSpec:
    """`spec` asking, for each container it names, for the image recorded in `images`."""
    recorded = {i["container"]: i["image"] for i in images}
    containers = tuple(
        ContainerImage(c.name, image=recorded[c.name]) if c.name in recorded else c
        for c in spec.containers
    )
    return replace(spec, containers=containers)


def _reverted(prev: Mapping[str, Any], generation: int, plan: Plan) -> list[str]:
    """Containers whose image we already applied for this generation and someone undid."""
    if int(prev.get("observedGeneration") or -1) != generation:
        return []
    applied = {i.get("container"): i.get("image") for i in prev.get("images") or []}
    return [c.container for c in plan.changes if applied.get(c.container) == c.new]


def _judge(spec: RolloutSpec, after: Mapping[str, Any]) -> tuple[Phase, str, str]:
    judgement = rollout_status(spec.target_kind, after)
    if spec.target_kind == "Deployment" and (after.get("spec") or {}).get("paused"):
        return (
            Phase.BLOCKED,
            "DeploymentPaused",
            f'deployment "{spec.target_name}" is paused; resume it with '
            f'"kubectl rollout resume deployment/{spec.target_name}"',
        )
    if judgement.verdict is Verdict.FAILED:
        return Phase.FAILED, judgement.reason, judgement.message
    if judgement.verdict is Verdict.DONE:
        return Phase.SUCCEEDED, READY_REASON, judgement.message
    return Phase.PROGRESSING, PROGRESSING_REASON, judgement.message


def _deadline(obs: Observation, spec: RolloutSpec, last_progress: str) -> tuple[str, float | None]:
    """For StatefulSets/DaemonSets: 'passed' or the seconds left ('' when not applicable)."""
    idle = (obs.now - parse_timestamp(last_progress)).total_seconds()
    remaining = spec.progress_deadline_seconds - idle
    if remaining <= 0:
        return (
            f'{spec.target_kind.lower()} "{spec.target_name}" exceeded its progress deadline '
            f"({spec.progress_deadline_seconds}s without progress, spec.progressDeadlineSeconds)",
            None,
        )
    return "", remaining


def _trigger_in_force(
    plan: Plan,
    prev: Mapping[str, Any],
    *,
    annotation: str | None,
    restarted_at: str | None,
    value: str | None,
    adopted: bool,
) -> str | None:
    """status.restartTrigger: the restart value the workload runs with after this decision.

    What we write now; on first sight the baseline; else the workload's own annotation when
    it agrees with spec.restartedAt (it may be newer than our status, if a status write was
    lost after the restart went through); else the recorded baseline.
    """
    if plan.restart is not None:
        return plan.restart
    if not adopted:
        return value
    token = f"restartedAt={restarted_at}" if restarted_at else None
    if annotation is not None and (token is None or token in annotation.split()):
        return annotation
    recorded: str | None = prev.get("restartTrigger")
    return recorded


def _trigger(plan: Plan, restart: RestartDecision) -> Trigger:
    if plan.changes:
        return Trigger.IMAGE
    return Trigger.CONFIG if restart.due else Trigger.RESTART


def _held(obs: Observation, spec: RolloutSpec, verdict: conflicts.Verdict) -> Decision:
    """A fight is on: write nothing to the workload; say who fights and when we retry."""
    decision = blocked(
        obs,
        conflicts.REASON,
        verdict.message(spec.target),
        extra={"conflict": verdict.record},
    )
    events = decision.events
    if verdict.started and not events:  # a new hold after a retry: one more Event
        events = (
            Event(
                "Warning", conflicts.REASON, decision.status["message"] if decision.status else ""
            ),
        )
    return replace(
        decision,
        events=events,
        requeue_after=verdict.retry_after,
        conflict_started=verdict.started,
    )


@dataclass
class _Draft:
    """The decision being built, stage by stage (one reconcile's scratch pad)."""

    obs: Observation
    spec: RolloutSpec
    plan: Plan
    prev: Mapping[str, Any]
    generation: int
    restart: RestartDecision
    #: The restart annotation value in force after this decision (status.restartTrigger).
    trigger: str | None
    verdict: conflicts.Verdict
    rollback: Mapping[str, Any] | None
    after: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    phase: Phase = Phase.PROGRESSING
    reason: str = PROGRESSING_REASON
    message: str = ""
    #: The phase kubectl's judgement gives, before a rollback relabels it.
    judged: Phase = Phase.PROGRESSING
    last_progress: str = ""
    requeue_after: float | None = None
    images: list[dict[str, str]] = field(default_factory=list)
    revision: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    new_rollout: bool = False
    ours: bool = False
    rollback_patch: dict[str, Any] | None = None
    explain: dict[str, str] | None = None

    @property
    def now(self) -> str:
        return timestamp(self.obs.now)


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

    rollback = _rollback(prev, generation)
    try:
        changes = image_changes(
            _with_images(spec, rollback["images"]) if rollback else spec, obs.target
        )
    except InvalidSpecError as error:
        return blocked(obs, error.reason, str(error))
    annotation = restart_annotation(obs.target)
    adopted = "startedAt" in prev  # set once the workload was first judged
    restarted = restarted_at_due(
        spec.restarted_at, prev.get("restartTrigger"), annotation, adopted=adopted
    )
    configs = decide_restart(
        explicit=spec.configs,
        discovered=obs.target.get("references") or (),  # slim workloads keep them
        auto_kinds=_auto_kinds(spec),
        observed=obs.configs,
        recorded=prev.get("configs"),
        annotation=annotation,
        rolling=bool(changes) or restarted,
    )
    if configs.missing:
        where = _meta(rollout, "namespace", "")
        return blocked(obs, "ConfigNotFound", configs.missing_message(where) or "")
    value = restart_trigger(configs.config_hash, spec.restarted_at)
    plan = Plan(changes, value if configs.due or restarted else None)
    verdict = conflicts.judge(
        prev,
        _reverted(prev, generation, plan),
        (obs.target.get("metadata") or {}).get("imageManagers") or {},
        obs.now,
        obs.conflict_settings,
    )
    if verdict.hold:
        return _held(obs, spec, verdict)
    if configs.due and obs.config_settling > 0:
        return _pending_restart(obs, spec, configs, prev, generation)
    draft = _Draft(
        obs, spec, plan, prev, generation,
        restart=configs,
        trigger=_trigger_in_force(
            plan,
            prev,
            annotation=annotation,
            restarted_at=spec.restarted_at,
            value=value,
            adopted=adopted,
        ),
        verdict=verdict,
        rollback=rollback,
    )  # fmt: skip
    draft.after = apply_plan(obs.target, plan)
    if _unobserved_foreign_change(draft.after, plan, prev, generation):
        # A Deployment's generation also moves on metadata-only edits (`kubectl annotate`).
        # Its controller catches up within milliseconds and the next event tells whether
        # a rollout really started; flapping Ready in between would only mislead.
        return Decision(plan=plan)
    _judge_progress(draft)
    _record_revision(draft)
    _roll_back_if_failed(draft)
    return _coalesced(obs, prev, _decision(draft))


def _judge_progress(d: _Draft) -> None:
    """kubectl's verdict on the workload as it will be after our patch, and our deadline."""
    d.counts = replica_counts(d.spec.target_kind, d.after)
    progressed = d.plan.needs_write or any(d.prev.get(k) != v for k, v in d.counts.items())
    keep = not progressed and "lastProgressTime" in d.prev
    d.last_progress = d.prev["lastProgressTime"] if keep else d.now
    d.phase, d.reason, d.message = _judge(d.spec, d.after)
    if d.phase is Phase.PROGRESSING and d.spec.target_kind != "Deployment":
        # Deployments enforce their own deadline; the others get ours.
        passed, d.requeue_after = _deadline(d.obs, d.spec, d.last_progress)
        if passed:
            d.phase, d.reason, d.message = Phase.FAILED, "ProgressDeadlineExceeded", passed
    d.judged = d.phase
    d.images = _images(d.after, d.spec)


def _record_revision(d: _Draft) -> None:
    """A new revision when we start a rollout, someone else did, or we adopt the workload."""
    d.ours = d.plan.needs_write and not d.verdict.restoring
    # Someone else started a rollout: the workload moves again after ours had ended. While
    # our own rollback still rolls out, the phase is already RolledBack: its revision's
    # result, not the phase, says whether our last rollout has ended.
    external = (
        not d.plan.needs_write
        and d.phase is Phase.PROGRESSING
        and d.prev.get("phase") in _FINISHED
        and not _still_rolling(d.prev)
    )
    # First sight, or a status written before revisions existed (an upgrade from 0.1.0).
    adopting = "startedAt" not in d.prev or "revision" not in d.prev
    d.revision = int(d.prev.get("revision") or 0)
    d.entries = [dict(e) for e in d.prev.get("history") or []]
    d.new_rollout = d.ours or external or adopting
    if not d.new_rollout:
        return
    if d.ours:
        trigger = _trigger(d.plan, d.restart)
        cause = history.change_cause(
            [str(c) for c in d.plan.changes],
            [str(ref) for ref in d.restart.changed] if d.restart.due else [],
            d.spec.restarted_at if trigger is Trigger.RESTART else None,
        )
        d.events += _start_events(d.plan, d.spec, cause)
    elif external:
        trigger, cause = Trigger.EXTERNAL, "pod template changed outside this Rollout"
    else:
        trigger, cause = Trigger.ADOPTED, ADOPTED_CAUSE
    prev = d.prev
    if adopting and d.ours:
        # Remember the workload as found, so that `undo` can go back to before the Rollout.
        found = _images(d.obs.target or {}, d.spec)
        adopted = history.Start(Trigger.ADOPTED, ADOPTED_CAUSE, found, d.generation)
        revision, entries = history.start(prev, adopted, d.now, d.spec.revision_history_limit)
        was_done = _judge(d.spec, d.obs.target or {})[0] is Phase.SUCCEEDED
        entries = history.finish(
            entries, revision, Result.SUCCEEDED if was_done else Result.SUPERSEDED, "", d.now
        )
        prev = {"revision": revision, "history": entries}
    start = history.Start(
        trigger, cause, d.images, d.generation, d.restart.config_hash, d.spec.restarted_at
    )
    d.revision, d.entries = history.start(prev, start, d.now, d.spec.revision_history_limit)


def _roll_back_if_failed(d: _Draft) -> None:
    """spec.rollbackOnFailure: set the last good revision's images back, once per generation."""
    rollback = dict(d.rollback) if d.rollback else None
    if d.phase is Phase.FAILED and not rollback and d.spec.rollback_on_failure:
        good = history.last_succeeded(d.entries, before=d.revision)
        back = _with_images(d.spec, good["images"]) if good else None
        back_plan = Plan(image_changes(back, d.after)) if back else None
        if good is None or back_plan is None or not back_plan.changes:
            d.message += "; spec.rollbackOnFailure: no earlier succeeded revision to go back to"
        else:
            d.explain = {i["container"]: i["image"] for i in d.images}  # the failed pods
            d.entries = history.finish(d.entries, d.revision, Result.FAILED, d.message, d.now)
            rollback = {
                "generation": d.generation,
                "failedRevision": d.revision,
                "toRevision": int(good["revision"]),
                "images": [dict(i) for i in good["images"]],
            }
            d.after = apply_plan(d.after, back_plan)
            d.images = _images(d.after, d.spec)
            d.counts = replica_counts(d.spec.target_kind, d.after)
            cause = f"rolled back to revision {good['revision']} after revision {d.revision} failed"
            start = history.Start(
                Trigger.ROLLBACK,
                cause,
                d.images,
                d.generation,
                d.restart.config_hash,
                d.spec.restarted_at,
            )
            d.revision, d.entries = history.start(
                {"revision": d.revision, "history": d.entries},
                start,
                d.now,
                d.spec.revision_history_limit,
            )
            d.rollback_patch = back_plan.patch(None)
            d.judged, d.last_progress, d.new_rollout = Phase.PROGRESSING, d.now, True
    if rollback is not None:
        d.phase, d.reason = Phase.ROLLED_BACK, ROLLED_BACK_REASON
        d.message = _rolled_back_message(rollback, d.message)
        d.rollback = rollback


def _decision(d: _Draft) -> Decision:
    """Assemble the status, the events and the patch from the finished draft."""
    result = {Phase.SUCCEEDED: Result.SUCCEEDED, Phase.FAILED: Result.FAILED}.get(
        d.judged, Result.PROGRESSING
    )
    entries = history.finish(d.entries, d.revision, result, d.message, d.now)
    cause = d.prev.get("cause") if d.phase in _FAILED and not d.ours else None
    if d.phase is Phase.FAILED and not cause:
        d.explain = {i["container"]: i["image"] for i in d.images}
    succeeded_before = d.prev.get("phase") == Phase.SUCCEEDED.value and not d.new_rollout
    completed = (
        (d.prev.get("completedAt") if succeeded_before else d.now)
        if (d.phase is Phase.SUCCEEDED)
        else None
    )
    status: dict[str, Any] = {
        "observedGeneration": d.generation,
        "phase": d.phase.value,
        "reason": d.reason,
        "message": d.message,
        "cause": cause,
        "target": d.spec.target,
        "images": d.images,
        "imageSummary": image_summary(d.images),
        "revision": d.revision,
        "configs": d.restart.status_configs() or None,
        "configHash": d.restart.config_hash,
        "restartTrigger": d.trigger,
        **d.counts,
        "ready": ready_text(d.counts),
        "startedAt": d.now if d.new_rollout else d.prev["startedAt"],
        "completedAt": completed,
        "lastProgressTime": d.last_progress,
        "history": entries,
        "rollback": d.rollback,
        "conflict": d.verdict.record,
        "conditions": conditions(
            d.prev.get("conditions") or [],
            d.phase,
            reason=d.reason,
            message=d.message,
            generation=d.generation,
            now=d.obs.now,
        ),
    }
    transition = d.prev.get("phase") != d.phase.value or d.prev.get("reason") != d.reason
    if transition and d.phase in (Phase.FAILED, Phase.BLOCKED, Phase.ROLLED_BACK):
        d.events.append(Event("Warning", d.reason, d.message))
    patch = (
        d.plan.patch(_meta(d.obs.target or {}, "resourceVersion")) if d.plan.needs_write else None
    )
    if d.rollback_patch is not None:
        d.rollback_patch["metadata"] = {
            "resourceVersion": _meta(d.obs.target or {}, "resourceVersion")
        }
        patch = _merge_patches(patch, d.rollback_patch)
    return Decision(
        patch=patch,
        status={k: v for k, v in status.items() if v is not None},
        events=tuple(d.events),
        requeue_after=d.requeue_after,
        plan=d.plan,
        explain=d.explain,
    )


def _merge_patches(first: dict[str, Any] | None, second: dict[str, Any]) -> dict[str, Any]:
    """The rollback's images win over the plan's (same containers, same patch)."""
    if first is None:
        return second
    merged = dict(first)
    template = dict(merged["spec"]["template"])
    template_spec = dict(template.get("spec") or {})
    for key, items in (second["spec"]["template"].get("spec") or {}).items():
        by_name = {c["name"]: c for c in template_spec.get(key) or []}
        by_name.update({c["name"]: c for c in items})
        template_spec[key] = list(by_name.values())
    template["spec"] = template_spec
    merged["spec"] = {"template": template}
    return merged


def _rolled_back_message(record: Mapping[str, Any], detail: str) -> str:
    images = ", ".join(f"{i['container']}={i['image']}" for i in record.get("images") or [])
    return (
        f"revision {record.get('failedRevision')} failed and was rolled back to revision "
        f"{record.get('toRevision')} ({images}); the spec still asks for the failed images: "
        f"change it to roll out again. Last: {detail}"
    )


def _start_events(plan: Plan, spec: RolloutSpec, cause: str) -> list[Event]:
    if plan.changes:
        return [Event("Normal", "ImageUpdated", "Set image " + "; ".join(map(str, plan.changes)))]
    why = cause.replace("spec.restartedAt set to", "spec.restartedAt is")
    return [Event("Normal", "RestartTriggered", f"Restarting {spec.target}: {why}")]


def _pending_restart(
    obs: Observation,
    spec: RolloutSpec,
    configs: RestartDecision,
    prev: Mapping[str, Any],
    generation: int,
) -> Decision:
    """A restart is due but config edits are still settling: leave Ready now, restart later."""
    message = (
        f"restart pending: {configs.change_cause}; {spec.target} restarts once no more edits "
        "arrive for the debounce time (--restart-debounce)"
    )
    same = prev.get("reason") == RESTART_PENDING_REASON and prev.get("message") == message
    if same and prev.get("observedGeneration") == generation:
        return Decision(requeue_after=obs.config_settling)
    status = {
        **prev,
        "observedGeneration": generation,
        "phase": Phase.PROGRESSING.value,
        "reason": RESTART_PENDING_REASON,
        "message": message,
        "completedAt": None,
        "conditions": conditions(
            prev.get("conditions") or [],
            Phase.PROGRESSING,
            reason=RESTART_PENDING_REASON,
            message=message,
            generation=generation,
            now=obs.now,
        ),
    }
    status = {k: v for k, v in status.items() if v is not None}
    return Decision(status=status, requeue_after=obs.config_settling)


def _coalesced(obs: Observation, prev: Mapping[str, Any], decision: Decision) -> Decision:
    """Hold back a progress-only status write made too soon after the previous one."""
    if decision.status is None or decision.patch is not None or decision.events:
        return decision
    if obs.since_status_write is None or obs.since_status_write >= obs.status_interval:
        return decision
    if not progress_only(prev, decision.status):
        return decision
    wait = obs.status_interval - obs.since_status_write
    again = wait if decision.requeue_after is None else min(wait, decision.requeue_after)
    return replace(decision, status=None, requeue_after=again)


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch turning `current` status into `desired`; empty when equal."""
    patch = {k: v for k, v in desired.items() if current.get(k) != v}
    patch.update({k: None for k in current if k not in desired})
    return {k: v for k, v in patch.items() if not (v is None and k not in current)}


NO_CAUSE = "no not-ready pod of the failed revision was found"


def with_cause(decision: Decision, cause: str | None) -> Decision:
    """The decision with the failure's root cause (read by the shell) in its status."""
    if decision.status is None:
        return replace(decision, explain=None)
    return replace(decision, status={**decision.status, "cause": cause or NO_CAUSE}, explain=None)


def after_write(obs: Observation, decision: Decision, failure: WriteFailure) -> Decision:
    """What a failed write means, decided here rather than in the shell.

    - 409 on the workload: our copy was stale (the resourceVersion precondition); fetch
      it again and decide anew, never overwrite someone else's newer change.
    - 404 on the workload: it was deleted since we looked; decide again without it.
    - 403/400/422 on the workload: nothing retrying can fix; the Rollout says why.
    - 404 on the status: the Rollout itself is gone; forget it.
    - 409 on the status: the Rollout changed since we read it; decide again from the new one.
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
    elif failure.status == 409:
        return Decision(refetch_rollout=True, requeue_after=0.0)
    return Decision(retry=True)


def _target_text(obs: Observation) -> str:
    ref = (obs.rollout.get("spec") or {}).get("targetRef") or {}
    namespace = _meta(obs.rollout, "namespace", "")
    return f'{ref.get("kind")} "{ref.get("name")}" in namespace "{namespace}"'
