"""The reconcile decision, one behaviour per test: pure inputs, the writes it asks for."""

from datetime import UTC, datetime, timedelta

import pytest

from rollout_operator.confighash import combined_hash
from rollout_operator.decide import Decision, Observation, decide, status_patch
from rollout_operator.names import RESTART_ANNOTATION
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
    assert [e.reason for e in d.events] == ["RolloutSucceeded"]


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
    assert d.status["completedAt"] is None


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
    adopted = observe(rollout(spec), deployment(), configs={CM: "h1"})
    assert adopted.patch is None  # adoption never restarts
    changed = {CM: "h2"}
    waiting = observe(
        rollout(spec, status=adopted.status), deployment(), configs=changed, config_settling=0.7
    )
    assert waiting == Decision(requeue_after=0.7)
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
