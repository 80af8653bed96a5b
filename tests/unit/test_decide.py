"""The reconcile decision, one behaviour per test: pure inputs, the writes it asks for."""

from datetime import UTC, datetime, timedelta

import pytest

from rollout_operator.confighash import combined_hash
from rollout_operator.decide import Decision, Observation, decide, status_patch
from rollout_operator.names import RESTART_ANNOTATION
from rollout_operator.restarts import Observed
from rollout_operator.spec import ConfigRef

NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
CM = ConfigRef("ConfigMap", "agent")


def rollout(spec=None, status=None, generation=1):
    body = {
        "metadata": {"name": "server", "namespace": "ns", "generation": generation},
        "spec": {"targetRef": {"kind": "Deployment", "name": "server"}, **(spec or {})},
    }
    if status is not None:
        body["status"] = status
    return body


def deployment(
    image="app:v1", *, done=True, generation=5, annotation=None, paused=False, conditions=()
):
    replicas = 3
    return {
        "metadata": {
            "name": "server",
            "namespace": "ns",
            "generation": generation,
            "resourceVersion": "42",
        },
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "template": {
                "metadata": {"annotations": {RESTART_ANNOTATION: annotation} if annotation else {}},
                "spec": {"containers": [{"name": "server", "image": image}]},
            },
        },
        "status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas if done else 1,
            "readyReplicas": replicas if done else 1,
            "availableReplicas": replicas if done else 1,
            "conditions": list(conditions),
        },
    }


def observe(body, target, **kw) -> Decision:
    return decide(
        Observation(
            rollout=body, target=target, configs=kw.pop("configs", {}), now=kw.pop("now", NOW), **kw
        )
    )


def cond(status, kind):
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_adopting_a_finished_workload_writes_status_only():
    d = observe(rollout({"containers": [{"name": "server", "image": "app:v1"}]}), deployment())
    assert d.patch is None
    assert d.status["phase"] == "Succeeded"
    assert d.status["message"] == 'deployment "server" successfully rolled out'
    assert cond(d.status, "Ready")["status"] == "True"
    assert cond(d.status, "Ready")["observedGeneration"] == 1
    assert d.events == ()  # success is in the status and the history; no Event per rollout
    assert d.status["revision"] == 1
    assert d.status["history"][0]["trigger"] == "Adopted"
    assert d.status["history"][0]["result"] == "Succeeded"


def test_steady_state_needs_no_write_at_all():
    first = observe(rollout(), deployment())
    again = observe(rollout(status=first.status), deployment(), now=NOW + timedelta(minutes=5))
    assert again.patch is None
    assert status_patch(first.status, again.status) == {}
    assert again.events == ()


def test_new_image_patches_and_reports_spec_update_pending():
    d = observe(rollout({"containers": [{"name": "server", "tag": "v2"}]}), deployment())
    assert d.patch == {
        "metadata": {"resourceVersion": "42"},
        "spec": {"template": {"spec": {"containers": [{"name": "server", "image": "app:v2"}]}}},
    }
    assert d.status["phase"] == "Progressing"
    assert d.status["message"] == "Waiting for deployment spec update to be observed..."
    assert d.status["images"] == [{"container": "server", "image": "app:v2"}]
    # a Rollout naming no containers still shows what runs
    assert observe(rollout(), deployment()).status["images"] == [
        {"container": "server", "image": "app:v1"}
    ]
    assert cond(d.status, "Ready")["status"] == "False"
    assert cond(d.status, "Reconciling")["status"] == "True"
    assert [e.reason for e in d.events] == ["ImageUpdated"]
    assert "server: app:v1 -> app:v2" in d.events[0].message


def test_previous_success_is_not_reported_for_a_new_generation():
    done = observe(rollout(), deployment()).status
    d = observe(
        rollout({"containers": [{"name": "server", "image": "app:v2"}]}, status=done, generation=2),
        deployment(),
    )
    assert cond(d.status, "Ready")["status"] == "False"
    assert d.status["observedGeneration"] == 2
    assert "completedAt" not in d.status


def test_progress_then_completion_keeps_start_time():
    started = observe(
        rollout({"containers": [{"name": "server", "image": "app:v2"}]}), deployment()
    )
    rolling = observe(
        rollout({"containers": [{"name": "server", "image": "app:v2"}]}, status=started.status),
        deployment("app:v2", done=False, generation=6),
        now=NOW + timedelta(seconds=5),
    )
    assert rolling.patch is None
    assert rolling.status["message"] == (
        'Waiting for deployment "server" rollout to finish: 1 out of 3 new replicas have been updated...'
    )
    finished = observe(
        rollout({"containers": [{"name": "server", "image": "app:v2"}]}, status=rolling.status),
        deployment("app:v2", generation=6),
        now=NOW + timedelta(seconds=9),
    )
    assert finished.status["phase"] == "Succeeded"
    assert finished.status["startedAt"] == "2026-11-25T10:00:00Z"
    assert finished.status["completedAt"] == "2026-11-25T10:00:09Z"
    assert cond(finished.status, "Ready")["lastTransitionTime"] == "2026-11-25T10:00:09Z"


def test_progress_deadline_exceeded_fails():
    target = deployment(
        done=False, conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]
    )
    d = observe(rollout(), target)
    assert d.status["phase"] == "Failed"
    assert d.status["message"] == 'deployment "server" exceeded its progress deadline'
    assert cond(d.status, "Stalled")["reason"] == "ProgressDeadlineExceeded"
    assert [(e.type, e.reason) for e in d.events] == [("Warning", "ProgressDeadlineExceeded")]


def test_paused_deployment_is_blocked_but_still_gets_the_image():
    d = observe(
        rollout({"containers": [{"name": "server", "image": "app:v2"}]}), deployment(paused=True)
    )
    assert d.patch is not None
    assert d.status["reason"] == "DeploymentPaused"
    assert "kubectl rollout resume deployment/server" in d.status["message"]


@pytest.mark.parametrize(
    ("kw", "spec", "reason", "fragment"),
    [
        ({"target": None}, {}, "TargetNotFound", 'Deployment "server" not found in namespace "ns"'),
        ({"claimed_by": "older"}, {}, "TargetClaimed", 'already managed by Rollout "older"'),
        (
            {"configs": {CM: None}},
            {"restartOnChangeOf": {"configMaps": ["agent"]}},
            "ConfigNotFound",
            "ConfigMap",
        ),
        (
            {"secrets_enabled": False},
            {"restartOnChangeOf": {"secrets": ["s"]}},
            "SecretsDisabled",
            "--enable-secrets",
        ),
        ({}, {"containers": [{"name": "web", "tag": "v2"}]}, "ContainerNotFound", "it has: server"),
        ({}, {"targetRef": {"kind": "CronJob", "name": "x"}}, "UnsupportedTargetKind", "CronJob"),
    ],
)
def test_blocked_inputs_write_nothing_to_the_workload(kw, spec, reason, fragment):
    target = kw.pop("target", deployment())
    d = observe(rollout(spec), target, **kw)
    assert d.patch is None
    assert d.status["phase"] == "Blocked"
    assert d.status["reason"] == reason
    assert fragment in d.status["message"]
    assert cond(d.status, "Stalled")["status"] == "True"
    assert cond(d.status, "Ready")["status"] == "False"
    assert [e.reason for e in d.events] == [reason]
    # the same block again posts no second event
    assert observe(rollout(spec, status=d.status), target, **kw).events == ()


def test_config_change_restarts_once_after_settling():
    spec = {"restartOnChangeOf": {"configMaps": ["agent"]}}
    adopted = observe(rollout(spec), deployment(), configs={CM: Observed("h1", "1")})
    assert adopted.patch is None  # adoption never restarts
    assert adopted.status["configs"] == [
        {"kind": "ConfigMap", "name": "agent", "hash": "h1", "resourceVersion": "1", "auto": False}
    ]
    changed = {CM: Observed("h2", "2")}
    waiting = observe(
        rollout(spec, status=adopted.status), deployment(), configs=changed, config_settling=0.7
    )
    # Not Ready the moment the change is seen, although the restart waits for more edits.
    assert waiting.patch is None
    assert waiting.requeue_after == 0.7
    assert waiting.status["phase"] == "Progressing"
    assert waiting.status["reason"] == "RestartPending"
    assert cond(waiting.status, "Ready")["status"] == "False"
    again = observe(
        rollout(spec, status=waiting.status), deployment(), configs=changed, config_settling=0.3
    )
    assert again == Decision(requeue_after=0.3)  # already says so: no second write
    d = observe(rollout(spec, status=adopted.status), deployment(), configs=changed)
    expected = "config=" + combined_hash({"ConfigMap/agent": "h2"})[:16]
    assert d.patch["spec"]["template"]["metadata"]["annotations"] == {RESTART_ANNOTATION: expected}
    assert [e.reason for e in d.events] == ["RestartTriggered"]
    assert "ConfigMap/agent changed" in d.events[0].message
    # after the write, the workload carries the annotation: nothing more to do
    after = observe(
        rollout(spec, status=d.status), deployment(annotation=expected), configs=changed
    )
    assert after.patch is None


def test_statefulset_without_progress_fails_at_its_deadline():
    sts = {
        "metadata": {"name": "db", "generation": 2},
        "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                 "template": {"spec": {"containers": [{"name": "db", "image": "db:v1"}]}}},
        "status": {"observedGeneration": 2, "readyReplicas": 1, "updatedReplicas": 1},
    }  # fmt: skip
    spec = {"targetRef": {"kind": "StatefulSet", "name": "db"}, "progressDeadlineSeconds": 60}
    first = observe(rollout(spec), sts)
    assert first.status["phase"] == "Progressing"
    assert first.requeue_after == 60
    later = observe(rollout(spec, status=first.status), sts, now=NOW + timedelta(seconds=61))
    assert later.status["phase"] == "Failed"
    assert later.status["reason"] == "ProgressDeadlineExceeded"
    assert 'statefulset "db" exceeded its progress deadline' in later.status["message"]


def test_status_patch_removes_cleared_fields():
    assert status_patch({"a": 1, "b": 2}, {"a": 1, "c": None}) == {"b": None}
    assert status_patch({"a": 1}, {"a": 2, "n": None}) == {"a": 2}


def test_metadata_only_edit_of_a_finished_deployment_does_not_flap_ready():
    done = observe(rollout(), deployment()).status
    annotated = deployment(generation=6)  # kubectl annotate bumps a Deployment's generation
    annotated["status"]["observedGeneration"] = 5
    assert observe(rollout(status=done), annotated) == Decision()
    # but a new Rollout generation is judged honestly
    d = observe(rollout(status=done, generation=2), annotated)
    assert d.status["message"] == "Waiting for deployment spec update to be observed..."


def test_restarted_at_added_later_restarts_a_workload_that_had_no_trigger():
    first = observe(rollout(), deployment())
    assert "restartTrigger" not in {k for k, v in first.status.items() if v is not None}
    d = observe(
        rollout({"restartedAt": "2026-11-25T11:00:00Z"}, status=first.status, generation=2),
        deployment(),
    )
    assert d.patch["spec"]["template"]["metadata"]["annotations"] == {
        RESTART_ANNOTATION: "restartedAt=2026-11-25T11:00:00Z"
    }
    assert "spec.restartedAt is 2026-11-25T11:00:00Z" in d.events[0].message


def test_a_rollout_started_by_someone_else_gets_a_fresh_start_time():
    done = observe(rollout(), deployment()).status
    later = NOW + timedelta(hours=1)
    d = observe(rollout(status=done), deployment(done=False, generation=6), now=later)
    assert d.patch is None
    assert d.status["phase"] == "Progressing"
    assert d.status["startedAt"] == "2026-11-25T11:00:00Z"


# --- revisions, rollback, fights, coalescing, root cause, failed writes -------------------
from rollout_operator.conflicts import ConflictSettings  # noqa: E402
from rollout_operator.decide import WriteFailure, after_write, with_cause  # noqa: E402

V2 = {"containers": [{"name": "server", "image": "app:v2"}]}
V3 = {"containers": [{"name": "server", "image": "app:v3"}]}
DEADLINE = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]


def succeed(spec, status=None, generation=1, image="app:v1"):
    """Drive a rollout of `spec` to success; return the final status."""
    started = observe(rollout(spec, status=status, generation=generation), deployment(image))
    done_image = started.status["images"][0]["image"]
    return observe(
        rollout(spec, status=started.status, generation=generation),
        deployment(done_image, generation=6),
    ).status


def test_each_rollout_is_a_revision_with_its_cause_and_result():
    adopted = observe(rollout(), deployment()).status
    started = observe(rollout(V2, status=adopted, generation=2), deployment())
    assert started.status["revision"] == 2
    entry = started.status["history"][0]
    assert (entry["trigger"], entry["result"], entry["generation"]) == ("Image", "Progressing", 2)
    assert entry["changeCause"] == "set image server: app:v1 -> app:v2"
    assert entry["images"] == [{"container": "server", "image": "app:v2"}]
    done = observe(
        rollout(V2, status=started.status, generation=2), deployment("app:v2", generation=6)
    )
    assert [(e["revision"], e["result"]) for e in done.status["history"]] == [
        (2, "Succeeded"),
        (1, "Succeeded"),
    ]
    # created with a new image at once: the workload as found is revision 1 (undo target)
    fresh = observe(rollout(V2), deployment())
    assert [(e["revision"], e["trigger"], e["result"]) for e in fresh.status["history"]] == [
        (2, "Image", "Progressing"),
        (1, "Adopted", "Succeeded"),
    ]
    assert fresh.status["history"][1]["images"] == [{"container": "server", "image": "app:v1"}]
    # a newer spec while one runs: the running revision is superseded
    superseded = observe(
        rollout(V3, status=started.status, generation=3), deployment("app:v2", done=False)
    )
    assert [(e["revision"], e["result"]) for e in superseded.status["history"]] == [
        (3, "Progressing"),
        (2, "Superseded"),
        (1, "Succeeded"),
    ]


def test_history_keeps_the_limit():
    status = observe(rollout({"revisionHistoryLimit": 2}), deployment()).status
    for generation, image in ((2, "app:v2"), (3, "app:v3"), (4, "app:v4")):
        spec = {"revisionHistoryLimit": 2, "containers": [{"name": "server", "image": image}]}
        status = observe(rollout(spec, status=status, generation=generation), deployment()).status
    assert [e["revision"] for e in status["history"]] == [4, 3]


def test_failed_rollout_rolls_back_once_to_the_last_success_when_asked():
    spec = {**V2, "rollbackOnFailure": True}
    good = succeed({"rollbackOnFailure": True})  # revision 1: app:v1 succeeded
    started = observe(rollout(spec, status=good, generation=2), deployment())
    failing = deployment("app:v2", done=False, generation=6, conditions=DEADLINE)
    d = observe(rollout(spec, status=started.status, generation=2), failing)
    assert d.patch["spec"]["template"]["spec"]["containers"] == [
        {"name": "server", "image": "app:v1"}
    ]
    assert d.status["phase"] == "RolledBack"
    assert d.status["rollback"] == {
        "generation": 2, "failedRevision": 2, "toRevision": 1,
        "images": [{"container": "server", "image": "app:v1"}],
    }  # fmt: skip
    assert cond(d.status, "Stalled")["status"] == "True"
    assert cond(d.status, "Ready")["status"] == "False"
    assert [(e["revision"], e["trigger"], e["result"]) for e in d.status["history"][:2]] == [
        (3, "Rollback", "Progressing"),
        (2, "Image", "Failed"),
    ]
    assert ("Warning", "RolledBack") in [(e.type, e.reason) for e in d.events]
    assert d.explain == {"server": "app:v2"}  # why it failed: the pods of the failed images
    # the rollback rolls out, as its own revision: no other revision starts meanwhile
    rolling = d.status
    for _ in range(2):
        rolling = observe(
            rollout(spec, status=rolling, generation=2),
            deployment("app:v1", done=False, generation=7),
        ).status
        assert rolling["phase"] == "RolledBack"
        assert [(e["revision"], e["trigger"], e["result"]) for e in rolling["history"][:2]] == [
            (3, "Rollback", "Progressing"),
            (2, "Image", "Failed"),
        ]
    # ... and ends; it never loops back to the failed images
    back = observe(rollout(spec, status=rolling, generation=2), deployment("app:v1", generation=7))
    assert back.patch is None
    assert back.status["phase"] == "RolledBack"
    assert back.status["history"][0]["result"] == "Succeeded"
    assert back.status["revision"] == 3
    # a restart by someone else afterwards is a revision of its own again
    outside = observe(
        rollout(spec, status=back.status, generation=2),
        deployment("app:v1", done=False, generation=8),
    )
    assert [(e["revision"], e["trigger"]) for e in outside.status["history"][:2]] == [
        (4, "External"),
        (3, "Rollback"),
    ]
    # a new spec ends the rollback
    fixed = {**V3, "rollbackOnFailure": True}
    again = observe(
        rollout(fixed, status=back.status, generation=3), deployment("app:v1", generation=7)
    )
    assert again.patch["spec"]["template"]["spec"]["containers"] == [
        {"name": "server", "image": "app:v3"}
    ]
    assert "rollback" not in again.status


def test_failure_without_rollback_asks_for_the_cause_once():
    failing = deployment("app:v2", done=False, generation=6, conditions=DEADLINE)
    started = observe(rollout(V2), deployment())
    d = observe(rollout(V2, status=started.status), failing)
    assert d.status["phase"] == "Failed"
    assert d.patch is None
    assert d.explain == {"server": "app:v2"}
    explained = with_cause(d, 'pod server-1: container "server": ImagePullBackOff')
    assert explained.status["cause"].endswith("ImagePullBackOff")
    later = observe(rollout(V2, status=explained.status), failing)
    assert later.explain is None
    assert later.status["cause"] == explained.status["cause"]


def test_rollback_without_an_earlier_success_stays_failed_and_says_so():
    spec = {**V2, "rollbackOnFailure": True}
    started = observe(rollout(spec), deployment(done=False))  # found mid-rollout: no success
    assert [(e["trigger"], e["result"]) for e in started.status["history"]] == [
        ("Image", "Progressing"),
        ("Adopted", "Superseded"),
    ]
    failing = deployment("app:v2", done=False, generation=6, conditions=DEADLINE)
    d = observe(rollout(spec, status=started.status), failing)
    assert d.status["phase"] == "Failed"
    assert d.patch is None
    assert "no earlier succeeded revision" in d.status["message"]


def reverted_deployment(image="app:v1", manager="argocd-controller"):
    target = deployment(image, generation=7)
    target["metadata"]["imageManagers"] = {"server": manager}
    return target


def test_a_fight_over_the_image_stops_after_the_threshold_and_names_the_other_writer():
    settings = ConflictSettings(threshold=3, window=60)
    status = succeed(V2)
    written = 0
    for second in range(3):
        d = observe(
            rollout(V2, status=status), reverted_deployment(),
            now=NOW + timedelta(seconds=10 * second + 10), conflict_settings=settings,
        )  # fmt: skip
        if d.patch is not None:
            written += 1
            assert d.events == ()  # a write-back is no new revision and no Event
            assert d.status["revision"] == status["revision"]
        status = d.status
    assert written == 2  # the third revert starts the hold
    assert d.status["phase"] == "Blocked"
    assert d.status["reason"] == "FieldConflict"
    assert '"argocd-controller"' in d.status["message"]
    assert d.status["conflict"]["count"] == 3
    assert d.status["conflict"]["manager"] == "argocd-controller"
    assert [(e.type, e.reason) for e in d.events] == [("Warning", "FieldConflict")]
    assert d.requeue_after == 30
    # while holding: no write, no second Event
    held = observe(
        rollout(V2, status=status), reverted_deployment(),
        now=NOW + timedelta(seconds=45), conflict_settings=settings,
    )  # fmt: skip
    assert held.patch is None
    assert held.events == ()
    # at retryAt it writes once more; another revert holds twice as long
    retry = observe(
        rollout(V2, status=status), reverted_deployment(),
        now=NOW + timedelta(seconds=61), conflict_settings=settings,
    )  # fmt: skip
    assert retry.patch is not None
    again = observe(
        rollout(V2, status=retry.status), reverted_deployment(),
        now=NOW + timedelta(seconds=63), conflict_settings=settings,
    )  # fmt: skip
    assert again.patch is None
    assert again.requeue_after == 60


def test_reverts_far_apart_are_no_fight():
    settings = ConflictSettings(threshold=2, window=60)
    status = succeed(V2)
    first = observe(rollout(V2, status=status), reverted_deployment(), conflict_settings=settings)
    assert first.patch is not None
    later = observe(
        rollout(V2, status=first.status), reverted_deployment(),
        now=NOW + timedelta(minutes=5), conflict_settings=settings,
    )  # fmt: skip
    assert later.patch is not None  # a new episode: count 1 again
    assert later.status["conflict"]["count"] == 1


def test_progress_only_status_writes_are_coalesced_but_transitions_are_not():
    started = observe(rollout(V2), deployment())
    rolling = deployment("app:v2", done=False, generation=6)
    soon = observe(
        rollout(V2, status=started.status), rolling, since_status_write=1.0, status_interval=5.0
    )
    assert soon.status is None  # only the message and counts moved: wait
    assert soon.requeue_after == 4.0
    late = observe(
        rollout(V2, status=started.status), rolling, since_status_write=6.0, status_interval=5.0
    )
    assert late.status is not None
    done = observe(
        rollout(V2, status=started.status), deployment("app:v2", generation=6),
        since_status_write=0.1, status_interval=5.0,
    )  # fmt: skip
    assert done.status["phase"] == "Succeeded"  # a transition is written at once


def test_ready_column_has_no_surge_noise_and_images_are_summarised():
    surge = deployment("registry.local:5000/team/app:v2", done=False, generation=6)
    surge["status"].update(replicas=4, updatedReplicas=2, readyReplicas=4, availableReplicas=4)
    d = observe(rollout(), surge)
    assert d.status["ready"] == "2/3/3"
    assert d.status["imageSummary"] == "server=app:v2"


@pytest.mark.parametrize(
    ("what", "code", "expect"),
    [
        ("workload", 409, {"refetch_target": True, "requeue_after": 0.0}),
        ("workload", 404, {"refetch_target": True, "requeue_after": 0.0}),
        ("workload", 503, {"retry": True}),
        ("workload", 0, {"retry": True}),
        ("status", 404, {"forget": True}),
        ("status", 409, {"refetch_rollout": True, "requeue_after": 0.0}),
        ("status", 500, {"retry": True}),
    ],
)
def test_failed_writes_have_decided_outcomes(what, code, expect):
    obs = Observation(rollout=rollout(V2), target=deployment(), configs={}, now=NOW)
    outcome = after_write(obs, decide(obs), WriteFailure(what, code, "boom"))
    for key, value in expect.items():
        assert getattr(outcome, key) == value
    assert outcome.patch is None


@pytest.mark.parametrize(("code", "reason"), [(403, "Forbidden"), (422, "PatchRejected")])
def test_refused_workload_writes_block_with_a_reason(code, reason):
    obs = Observation(rollout=rollout(V2), target=deployment(), configs={}, now=NOW)
    outcome = after_write(obs, decide(obs), WriteFailure("workload", code, "denied by policy"))
    assert outcome.status["phase"] == "Blocked"
    assert outcome.status["reason"] == reason
    assert "denied by policy" in outcome.status["message"]
    assert outcome.patch is None


def test_upgrading_from_0_1_0_restarts_nothing_and_records_revision_1():
    spec = {"restartOnChangeOf": {"configMaps": ["agent"], "secrets": ["creds"]}}
    old_status = {  # what 0.1.0 wrote: one combined (then unkeyed) hash, no records
        "observedGeneration": 1,
        "phase": "Succeeded",
        "startedAt": "2026-11-01T10:00:00Z",
        "completedAt": "2026-11-01T10:01:00Z",
        "configHash": "0" * 64,
        "restartTrigger": f"config={'0' * 16}",
    }
    configs = {
        CM: Observed("sha256:new", "7"),
        ConfigRef("Secret", "creds"): Observed("hmac-sha256:k:x", "8"),
    }
    d = observe(
        rollout(spec, status=old_status),
        deployment(annotation=f"config={'0' * 16}"),
        configs=configs,
    )
    assert d.patch is None  # no restart for the new hash scheme
    assert d.events == ()
    assert [(e["revision"], e["trigger"]) for e in d.status["history"]] == [(1, "Adopted")]
    assert {c["name"] for c in d.status["configs"]} == {"agent", "creds"}


def test_a_restart_that_landed_before_a_lost_status_write_is_not_redone_and_status_tells_the_truth():
    first = observe(rollout(), deployment())
    spec = {"restartedAt": "2026-11-25T11:00:00Z"}
    written = observe(rollout(spec, status=first.status, generation=2), deployment())
    value = written.patch["spec"]["template"]["metadata"]["annotations"][RESTART_ANNOTATION]
    # the status write was lost: the next decision sees the old status and the new annotation
    again = observe(
        rollout(spec, status=first.status, generation=2), deployment(annotation=value, generation=6)
    )
    assert again.patch is None
    assert again.status["restartTrigger"] == value
