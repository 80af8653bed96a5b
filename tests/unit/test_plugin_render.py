"""What `kubectl rollouts` prints: tables, details, history, failure and timeout reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rollout_operator.plugin.judge import Look, State
from rollout_operator.plugin.render import (
    details,
    failure_report,
    history_text,
    list_table,
    revision_text,
    table,
    timeout_report,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def rollout(name: str = "web", namespace: str = "ns", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": 3,
            "creationTimestamp": "2025-01-01T11:59:00Z",
        },
        "spec": {
            "targetRef": {"kind": "Deployment", "name": name},
            "containers": [{"name": "app", "tag": "v2"}],
            "restartOnChangeOf": {"configMaps": ["cfg"], "auto": {"secrets": True}},
        },
        "status": status,
    }


IMAGES = [
    {"container": "app", "image": "repo/app:v2"},
    {"container": "side", "image": "proxy:1.4"},
]


def test_table_pads_columns_and_fills_empty_cells():
    assert table(["A", "LONGER"], [["xx", ""], ["y", "z"]]).splitlines() == [
        "A    LONGER",
        "xx   <none>",
        "y    z",
    ]


def test_list_shows_every_containers_image_and_ready_without_surge():
    text = list_table(
        [
            rollout(
                phase="Progressing",
                target="Deployment/web",
                images=IMAGES,
                replicas=3,
                updatedReplicas=4,
                availableReplicas=2,
                revision=3,
            )
        ],
        NOW,
        namespaces=False,
    )
    header, row = text.splitlines()
    assert header.split() == [
        "NAME", "TARGET", "PHASE", "READY", "REVISION", "IMAGES", "AGE", "MESSAGE",
    ]  # fmt: skip
    assert row.split()[:7] == [
        "web",
        "Deployment/web",
        "Progressing",
        "3/2/3",
        "3",
        "app=repo/app:v2,side=proxy:1.4",
        "60s",
    ]


def test_list_all_namespaces_adds_the_column():
    text = list_table([rollout(namespace="team-a", ready="1/1/1")], NOW, namespaces=True)
    assert text.splitlines()[0].split()[0] == "NAMESPACE"
    assert text.splitlines()[1].split()[:2] == ["team-a", "web"]


def test_details_show_live_images_conditions_rollback_and_history():
    workload = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": "repo/app:v1"}],
                    "initContainers": [{"name": "init", "image": "init:1"}],
                }
            }
        }
    }
    body = rollout(
        phase="RolledBack",
        reason="RolledBack",
        message="rolled back",
        cause="pod web-1 not ready: readiness probe failed",
        conditions=[{"type": "Stalled", "status": "True", "reason": "RolledBack",
                     "observedGeneration": 3, "lastTransitionTime": "2025-01-01T11:58:00Z"}],
        rollback={"failedRevision": 3, "toRevision": 2, "images": IMAGES[:1]},
        history=[{"revision": 3, "result": "Failed"}, {"revision": 2, "result": "Succeeded"}],
    )  # fmt: skip
    text = details(body, workload, NOW)
    assert "Cause:       pod web-1 not ready: readiness probe failed" in text
    assert "  app: repo/app:v1" in text
    assert "  init: init:1" in text
    assert "revision 3 failed; the workload runs revision 2 (app=repo/app:v2)" in text
    assert "  container app: tag v2" in text
    assert "ConfigMap/cfg (+ every referenced secrets)" in text
    assert "Stalled   True" in text
    history = text[text.index("History:") :].splitlines()
    assert [line.split()[0] for line in history[2:]] == ["2", "3"]  # oldest first


def test_details_without_workload_fall_back_to_status_images():
    body = rollout(images=IMAGES)
    body["spec"]["rollbackOnFailure"] = True
    text = details(body, None, NOW)
    assert "  rollbackOnFailure: true" in text  # YAML's spelling, as it was written
    assert "Images (status):" in text
    assert "side: proxy:1.4" in text
    assert "was not found" in text


def test_history_lists_oldest_first_like_kubectl():
    status = {
        "history": [
            {
                "revision": 2,
                "trigger": "Image",
                "result": "Succeeded",
                "changeCause": "app: v1 -> v2",
            },
            {"revision": 1, "trigger": "Adopted", "result": "Succeeded"},
        ]
    }
    lines = history_text("web", status).splitlines()
    assert lines[0] == "rollout.rollout-operator.dev/web"
    assert lines[1].split() == [
        "REVISION",
        "TRIGGER",
        "RESULT",
        "STARTED",
        "COMPLETED",
        "CHANGE-CAUSE",
    ]
    assert lines[2].split()[:3] == ["1", "Adopted", "Succeeded"]
    assert lines[3].split()[:3] == ["2", "Image", "Succeeded"]
    assert lines[3].endswith("app: v1 -> v2")
    assert "No revisions recorded" in history_text("web", {})


def test_revision_text_shows_images():
    text = revision_text("web", {"revision": 2, "result": "Failed", "images": IMAGES})
    assert text.splitlines()[0] == "rollout.rollout-operator.dev/web with revision #2"
    assert "Result:       Failed" in text
    assert "  side: proxy:1.4" in text


def test_failure_report_has_reason_message_and_every_cause_line():
    look = Look(
        State.FAILED,
        "",
        phase="Failed",
        reason="ProgressDeadlineExceeded",
        message='deployment "web" exceeded its progress deadline',
        cause="pod web-1: not ready\npod web-2: CrashLoopBackOff",
    )
    assert failure_report("web", look) == [
        'error: rollout "web" Failed: ProgressDeadlineExceeded',
        '  message: deployment "web" exceeded its progress deadline',
        "  cause: pod web-1: not ready",
        "  cause: pod web-2: CrashLoopBackOff",
    ]


def test_timeout_report_names_the_rollouts_still_waiting():
    lines = timeout_report(
        90, {"web": Look(State.WAITING, "Waiting for 2 pods", phase="Progressing")}
    )
    assert lines == [
        "error: timed out after 1m30s waiting for the rollout to finish",
        '  rollout "web": Progressing: Waiting for 2 pods',
    ]


def test_ready_is_computed_from_the_counts_whatever_format_status_ready_has():
    text = list_table(
        [rollout(ready="2/2", replicas=2, updatedReplicas=2, availableReplicas=1)],
        NOW,
        namespaces=False,
    )
    assert text.splitlines()[1].split()[1:2] == ["Deployment/web"]
    assert "2/1/2" in text.splitlines()[1].split()
    only = list_table([rollout(ready="1/1/1")], NOW, namespaces=False)
    assert "1/1/1" in only.splitlines()[1].split()
