"""Fault: another writer keeps resetting the image the Rollout sets (a field fight).

A script under its own field manager sets the old image every 2 s. After
--conflict-threshold reverts within --conflict-window the operator must stop writing back:
phase Blocked, reason FieldConflict, Stalled=True, status.conflict naming the other manager,
one Warning Event (not one per write), and a retry at conflict.retryAt. The hold is judged
while the writer goes on (its writes after the hold began must stay unanswered); once the
writer stops, the retry restores the requested image.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client

from rollout_operator.status import parse_timestamp

from .faults import (
    FaultReport,
    OperatorFactory,
    Row,
)
from .faults_fleet import (
    CONTAINER,
    IMAGE_REPO,
)
from .kube import Kubectl, make_deployment, wait_for
from .operator_process import metric
from .rollouts import condition, events_for, get_rollout, make_rollout

FIGHTER = "e2e-fighter"
THRESHOLD = 3
#: Writes the writer makes after the hold began that must stay unanswered. Observation ends
#: earlier if the hold's first retry (conflict.retryAt) comes near: that write is allowed.
UNANSWERED_WRITES = 8
PATCHES = "rollout_operator_api_request_duration_seconds_count"


class Fighter:
    """Sets the old image every `interval` seconds under its own field manager."""

    def __init__(self, apps_api: client.AppsV1Api, namespace: str, name: str, image: str,
                 interval: float = 2.0) -> None:  # fmt: skip
        self.apps_api = apps_api
        self.namespace = namespace
        self.name = name
        self.image = image
        self.interval = interval
        self.writes = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fighter", daemon=True)

    def __enter__(self) -> Fighter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        body = {"spec": {"template": {"spec": {"containers": [
            {"name": CONTAINER, "image": self.image}]}}}}  # fmt: skip
        while True:
            try:
                self.apps_api.patch_namespaced_deployment(
                    self.name, self.namespace, body, field_manager=FIGHTER, _request_timeout=10
                )
                self.writes += 1
            except Exception as error:  # reported, the fight goes on
                self.errors.append(str(error))
            if self._stop.wait(self.interval):
                return


def operator_patches(text: str) -> float:
    return metric(text, PATCHES, verb="patch", resource="deployments")


def test_concurrent_writer_is_reported_and_not_fought(
    operators: OperatorFactory, namespace: str, kubectl: Kubectl, apps_api: client.AppsV1Api,
    core_api: client.CoreV1Api, custom_api: client.CustomObjectsApi, fault_report: FaultReport,
):  # fmt: skip
    row = Row("5 concurrent writer", rounds=1)
    problems: list[str] = []

    def count(kind: str, what: str) -> None:
        problems.append(what)
        setattr(row, kind, getattr(row, kind) + 1)

    fight: dict[str, str] = {}
    try:
        name, old, new = "fought", f"{IMAGE_REPO}:v1", f"{IMAGE_REPO}:v2"
        kubectl.apply(make_deployment(name, image=old, replicas=1), namespace)
        operator = operators("faults-conflict", "--namespace", namespace, "--conflict-threshold",
                             str(THRESHOLD), "--conflict-window", "60")  # fmt: skip
        operator.start()
        kubectl.apply(make_rollout(name, name, containers=[{"name": CONTAINER, "tag": "v2"}]),
                      namespace)  # fmt: skip

        def rollout() -> dict[str, Any]:
            return get_rollout(custom_api, namespace, name)

        def phase() -> tuple[str | None, str | None]:
            status = rollout().get("status") or {}
            return (status.get("phase"), status.get("reason"))

        def image() -> str:
            template = apps_api.read_namespaced_deployment(name, namespace).spec.template
            return str(next(c.image for c in template.spec.containers if c.name == CONTAINER))

        wait_for(lambda: phase() == ("Succeeded", "RolloutComplete"), timeout=120,
                 what="the Rollout Succeeded before the fight")  # fmt: skip
        patches_before = operator_patches(operator.metrics())
        started = time.monotonic()
        with Fighter(apps_api, namespace, name, old) as fighter:
            try:
                wait_for(lambda: phase() == ("Blocked", "FieldConflict"), timeout=120,
                         what="Blocked FieldConflict")  # fmt: skip
            except AssertionError as error:
                count("wrong_status", str(error))
            held_at = (fighter.writes, operator_patches(operator.metrics()))
            retry_at = (rollout().get("status") or {}).get("conflict", {}).get("retryAt")
            judge_until = (
                parse_timestamp(retry_at) - timedelta(seconds=3)
                if retry_at
                else datetime.now(UTC) + timedelta(seconds=30)
            )
            # Positive barrier: the hold is in status. Now more reverts must stay unanswered.
            wait_for(lambda: fighter.writes >= held_at[0] + UNANSWERED_WRITES
                     or datetime.now(UTC) >= judge_until, timeout=120,
                     what="the writer going on")  # fmt: skip
            unanswered = fighter.writes - held_at[0]
            during = rollout()
            patches_during_hold = operator_patches(operator.metrics()) - held_at[1]
            fight_seconds = time.monotonic() - started
            fight_patches = operator_patches(operator.metrics()) - patches_before
        writes = fighter.writes

        status = during.get("status") or {}
        conflict = status.get("conflict") or {}
        if (status.get("phase"), status.get("reason")) != ("Blocked", "FieldConflict"):
            count("wrong_status", f"during the fight: {status.get('phase')}/{status.get('reason')}")
        if condition(during, "Stalled").get("status") != "True":
            count("wrong_status", f"Stalled is not True: {condition(during, 'Stalled')}")
        if condition(during, "Ready").get("status") == "True":
            count("wrong_status", "Ready=True while another writer resets the image")
        if conflict.get("manager") != FIGHTER or FIGHTER not in (status.get("message") or ""):
            count(
                "wrong_status",
                f"the other manager is not named: {conflict}, {status.get('message')}",
            )
        if "image" not in str(conflict.get("field")) or not conflict.get("retryAt"):
            count("wrong_status", f"status.conflict incomplete: {conflict}")
        if int(conflict.get("count") or 0) < THRESHOLD or not conflict.get("since"):
            count("wrong_status", f"status.conflict count/since: {conflict}")
        if patches_during_hold:
            count("duplicated", f"{patches_during_hold:g} write-backs after the hold began")
        warnings = [m for r, m in events_for(core_api, namespace, name) if r == "FieldConflict"]
        if len(warnings) != 1:
            count("duplicated", f"{len(warnings)} FieldConflict Events for one hold: {warnings}")
        if unanswered < 2:
            problems.append(f"only {unanswered} writes during the hold: too few to judge it")
        if fighter.errors:
            problems.append(f"the writer failed: {fighter.errors[:3]}")

        # The writer stopped: the retry at conflict.retryAt restores the requested image.
        try:
            wait_for(lambda: image() == new and phase() == ("Succeeded", "RolloutComplete"),
                     timeout=300, what="the retry restoring the image")  # fmt: skip
        except AssertionError as error:
            count("lost", str(error))
        if condition(rollout(), "Ready").get("status") != "True" and image() == new:
            count("wrong_status", "not Ready after the retry")
        fight.update(
            {
                "writer writes": f"{writes} ({unanswered} during the hold)",
                "operator patches/min in the fight": f"{fight_patches * 60 / fight_seconds:.1f}",
                "FieldConflict Events": str(len(warnings)),
                "all Events": str(len(events_for(core_api, namespace, name))),
            }
        )
    finally:
        row.notes.update(fight)
        row.details = problems
        fault_report.add(row)
    assert not problems, "\n".join(problems)
