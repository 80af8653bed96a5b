"""`kubectl rollouts status` judgement: outcome from the Rollout, live lines from the workload."""

from __future__ import annotations

from typing import Any

import pytest

from rollout_operator.plugin.judge import Look, Progress, State, judge, overall


def rollout(
    *,
    generation: int = 2,
    observed: int | None = 2,
    phase: str = "Progressing",
    reason: str = "Progressing",
    message: str = "",
    ready: tuple[str, int | None] | None = None,
    stalled: tuple[str, int | None] | None = None,
    kind: str = "Deployment",
    **status: Any,
) -> dict[str, Any]:
    conditions = []
    for kind_, value in (("Ready", ready), ("Stalled", stalled)):
        if value is not None:
            cond: dict[str, Any] = {"type": kind_, "status": value[0], "reason": reason}
            if value[1] is not None:
                cond["observedGeneration"] = value[1]
            conditions.append(cond)
    body: dict[str, Any] = {"phase": phase, "reason": reason, "message": message, **status}
    if observed is not None:
        body["observedGeneration"] = observed
    body["conditions"] = conditions
    return {
        "metadata": {"name": "web", "namespace": "ns", "generation": generation},
        "spec": {"targetRef": {"kind": kind, "name": "web"}},
        "status": body,
    }


def deployment(*, updated: int = 3, available: int = 3, replicas: int = 3) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "generation": 5},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 5,
            "replicas": max(updated, replicas),
            "updatedReplicas": updated,
            "availableReplicas": available,
        },
    }


DONE = 'deployment "web" successfully rolled out'


def test_ready_for_the_current_generation_is_done_with_kubectls_line():
    look = judge(rollout(phase="Succeeded", ready=("True", 2)), deployment())
    assert look.state is State.READY
    assert look.line == DONE


def test_ready_of_a_previous_generation_is_not_done():
    """The false success of `kubectl wait` right after a spec change: Ready=True, but for gen 1."""
    look = judge(rollout(phase="Succeeded", ready=("True", 1)), deployment())
    assert look.state is State.WAITING


def test_ready_without_a_condition_generation_uses_the_status_generation():
    assert judge(rollout(observed=1, ready=("True", None)), deployment()).state is State.WAITING
    assert judge(rollout(observed=2, ready=("True", None)), deployment()).state is State.READY


def test_unobserved_spec_says_so_even_when_the_workload_looks_done():
    look = judge(rollout(observed=1), deployment())
    assert look.state is State.WAITING
    assert look.line == 'Waiting for rollout "web" spec update to be observed...'


@pytest.mark.parametrize("phase", ["Failed", "Blocked", "RolledBack"])
def test_failed_phases_of_the_current_generation_fail(phase):
    look = judge(
        rollout(phase=phase, reason="Why", message="what happened", cause="pod web-1: ImagePull"),
        deployment(),
    )
    assert look.state is State.FAILED
    assert (look.phase, look.reason, look.message, look.cause) == (
        phase,
        "Why",
        "what happened",
        "pod web-1: ImagePull",
    )


def test_a_failed_phase_of_an_older_generation_is_not_a_failure_yet():
    """A fixed spec must not fail on the previous spec's Failed status."""
    look = judge(rollout(observed=1, phase="Failed"), deployment())
    assert look.state is State.WAITING


def test_stalled_condition_for_the_current_generation_fails():
    look = judge(rollout(stalled=("True", 2), reason="ProgressDeadlineExceeded"), deployment())
    assert look.state is State.FAILED
    assert look.reason == "ProgressDeadlineExceeded"


def test_stalled_condition_of_an_older_generation_does_not_fail():
    assert judge(rollout(observed=1, stalled=("True", 1)), deployment()).state is State.WAITING


def test_rollback_details_travel_with_the_failure():
    rollback = {"failedRevision": 3, "toRevision": 2, "images": []}
    look = judge(rollout(phase="RolledBack", reason="RolledBack", rollback=rollback), None)
    assert look.rollback == rollback


def test_progress_line_comes_from_the_live_workload_not_the_coalesced_status():
    look = judge(
        rollout(message='Waiting for deployment "web" rollout to finish: 0 of 3 updated'),
        deployment(updated=2, available=2),
    )
    assert look.state is State.WAITING
    assert look.line == (
        'Waiting for deployment "web" rollout to finish: 2 out of 3 new replicas have been updated...'
    )


def test_settled_workload_before_the_operator_confirms_is_still_waiting():
    look = judge(rollout(), deployment())
    assert look.state is State.WAITING
    assert look.line == 'Waiting for rollout "web" to be Ready...'


def test_a_pending_restart_shows_the_operators_message():
    """The workload is untouched until the restart is written: it must not read as done."""
    message = "restart pending: content of ConfigMap/web changed"
    look = judge(rollout(reason="RestartPending", message=message), deployment())
    assert (look.state, look.line) == (State.WAITING, message)


def test_statefulset_and_daemonset_lines_are_kubectls():
    sts = {
        "metadata": {"name": "db", "generation": 2},
        "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}},
        "status": {"observedGeneration": 2, "readyReplicas": 1},
    }
    assert judge(rollout(kind="StatefulSet"), sts).line == "Waiting for 2 pods to be ready..."
    ds = {
        "metadata": {"name": "agent", "generation": 2},
        "spec": {},
        "status": {
            "observedGeneration": 2,
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 1,
        },
    }
    assert judge(rollout(kind="DaemonSet"), ds).line == (
        'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...'
    )


def test_missing_workload_falls_back_to_the_status_message():
    look = judge(rollout(message="waiting for Deployment/web"), None)
    assert (look.state, look.line) == (State.WAITING, "waiting for Deployment/web")


def test_a_conflict_becomes_a_note():
    conflict = {"manager": "argocd-controller", "field": "image of app", "count": 3}
    look = judge(rollout(conflict=conflict), deployment(updated=1))
    assert look.note == "conflict: argocd-controller keeps changing image of app (3 times)"


def test_overall_waits_for_all_and_fails_on_any():
    ready, waiting, failed = (Look(s, "") for s in (State.READY, State.WAITING, State.FAILED))
    assert overall([ready, ready]) is State.READY
    assert overall([ready, waiting]) is State.WAITING
    assert overall([waiting, failed, ready]) is State.FAILED
    assert overall([]) is State.WAITING


def test_progress_prints_only_changes_and_prefixes_several_rollouts():
    one = Progress(["web"])
    assert one.lines({"web": Look(State.WAITING, "a")}) == ["a"]
    assert one.lines({"web": Look(State.WAITING, "a")}) == []
    assert one.lines({"web": Look(State.WAITING, "a", note="n")}) == ["n"]
    assert one.lines({"web": Look(State.READY, "b", note="n")}) == ["b"]
    assert one.last_line("web") == "b"
    two = Progress(["web", "db"])
    looks = {"web": Look(State.WAITING, "a"), "db": Look(State.WAITING, "c")}
    assert two.lines(looks) == ["rollout/web: a", "rollout/db: c"]
