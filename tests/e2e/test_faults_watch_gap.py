"""Fault: a watch gap with deletions and re-creations (the "ghost objects" of issue 10).

The operator is frozen (SIGSTOP) and the apiserver restarted under it, with etcd's revision
moved on while it is down: the restarted apiserver's watch caches begin after everything the
operator has seen, so its resumed watches get 410 and it must list again. During the gap:
- Rollout g1 is deleted and g2 created for the same Deployment: g2 must take over;
- a ConfigMap a Rollout references is deleted: that Rollout must become Blocked
  ConfigNotFound;
- a referenced ConfigMap is deleted and re-created with new content: one restart;
- a target Deployment is deleted and re-created with the old image: the image is set again,
  once.
Then a ConfigMap only g1 referenced is edited: nothing may restart, which is judged after a
positive barrier (a later edit of another Rollout's ConfigMap has been acted on).
Without the sweep of vanished objects after a re-list, g1 lingers as a ghost: g2 stays
Blocked TargetClaimed and the edit restarts the Deployment.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from rollout_operator.status import READY_REASON

from .faults import (
    FaultReport,
    LocalCluster,
    OperatorFactory,
    Row,
    frozen,
    rounds,
    seconds,
)
from .faults_fleet import (
    CONTAINER,
    IMAGE_REPO,
    RESTART_ANNOTATION,
)
from .kube import Kubectl, Observed, make_deployment, wait_for
from .operator_process import OperatorProcess, metric
from .rollouts import make_rollout

WATCH_RESTARTS = "rollout_operator_watch_restarts_total"
SUCCEEDED = ("Succeeded", READY_REASON)


def configmap(name: str, content: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"content": content}}  # fmt: skip


def image(tag: str) -> str:
    return f"{IMAGE_REPO}:{tag}"


class Cluster:
    """Reads of the objects under test (one namespace)."""

    def __init__(self, namespace: str, apps_api: client.AppsV1Api,
                 custom_api: client.CustomObjectsApi) -> None:  # fmt: skip
        self.namespace = namespace
        self.apps_api = apps_api
        self.custom_api = custom_api

    def deployment(self, name: str) -> Any:
        return self.apps_api.read_namespaced_deployment(name, self.namespace)

    def template(self, name: str) -> tuple[str, int, str, str | None]:
        """(uid, generation, image, restart annotation) of a Deployment."""
        d = self.deployment(name)
        annotations = d.spec.template.metadata.annotations or {}
        container = next(c for c in d.spec.template.spec.containers if c.name == CONTAINER)
        return (d.metadata.uid, d.metadata.generation, container.image,
                annotations.get(RESTART_ANNOTATION))  # fmt: skip

    def status(self, name: str) -> dict[str, Any]:
        body = self.custom_api.get_namespaced_custom_object(
            "rollout-operator.dev", "v1alpha1", self.namespace, "rollouts", name
        )
        status: dict[str, Any] = body.get("status") or {}
        current = status.get("observedGeneration") == body["metadata"]["generation"]
        return {**status, "current": current}

    def phase(self, name: str) -> tuple[str | None, str | None]:
        status = self.status(name)
        if not status["current"]:
            return (None, None)
        return (status.get("phase"), status.get("reason"))


class GapRound:
    """One round: objects named with the round's suffix, the gap, and the judgement."""

    def __init__(self, n: int, seen: Cluster, kubectl: Kubectl, row: Row) -> None:
        self.seen = seen
        self.kubectl = kubectl
        self.namespace = seen.namespace
        self.row = row
        self.problems: list[str] = []
        self.g1, self.g2 = f"g1-{n}", f"g2-{n}"
        self.shared, self.d2, self.d4, self.d5, self.d6 = (
            f"{x}-{n}" for x in ("shared", "d2", "d4", "d5", "d6")
        )
        self.only_g1, self.gone, self.barrier, self.reborn = (
            f"{x}-{n}" for x in ("only-g1", "gone", "barrier", "reborn")
        )

    def count(self, kind: str, what: str) -> None:
        self.problems.append(what)
        setattr(self.row, kind, getattr(self.row, kind) + 1)

    def apply(self, *objects: dict[str, Any]) -> None:
        document = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
        self.kubectl.apply(document, self.namespace)

    def delete(self, *what: str) -> None:
        result = self.kubectl("delete", *what, "-n", self.namespace, "--wait")
        assert result.returncode == 0, result.stderr

    def create(self) -> None:
        self.apply(
            *(configmap(c, "1") for c in (self.only_g1, self.gone, self.barrier, self.reborn)),
            *(
                make_deployment(d, image=image("v1"), replicas=1)
                for d in (self.shared, self.d2, self.d4, self.d5, self.d6)
            ),
        )
        tag = [{"name": CONTAINER, "tag": "v2"}]
        self.apply(
            make_rollout(self.g1, self.shared, containers=tag, config_maps=[self.only_g1]),
            make_rollout(self.d2, self.d2, config_maps=[self.gone]),
            make_rollout(self.d4, self.d4, config_maps=[self.barrier]),
            make_rollout(self.d5, self.d5, config_maps=[self.reborn]),
            make_rollout(self.d6, self.d6, containers=tag),
        )

    def settled_before(self) -> None:
        for name in (self.g1, self.d2, self.d4, self.d5, self.d6):
            wait_for(lambda name=name: self.seen.phase(name) == SUCCEEDED,
                     timeout=120, what=f"{name} Succeeded before the gap")  # fmt: skip
        self.before = {d: self.seen.template(d) for d in (self.shared, self.d5, self.d6)}

    def gap(self, cluster: LocalCluster, operator: OperatorProcess) -> None:
        """The changes, made while the operator cannot see them."""
        with frozen(operator):
            # Nothing the operator could still read from its sockets is about the gap: the
            # apiserver goes away first, and comes back with caches that start after etcd
            # moved on, so every resumed watch gets 410 Gone.
            cluster.stop("kube-apiserver")
            cluster.etcd_tick(2)
            cluster.start("kube-apiserver")
            cluster.wait_apiserver_ready()
            self.delete("rollout", self.g1)
            self.apply(make_rollout(self.g2, self.shared,
                                    containers=[{"name": CONTAINER, "tag": "v3"}]))  # fmt: skip
            self.delete("configmap", self.gone)
            self.delete("configmap", self.reborn)
            self.apply(configmap(self.reborn, "2"))
            self.delete("deployment", self.d6)
            self.apply(make_deployment(self.d6, image=image("v1"), replicas=1))
            self.recreated_uid = self.seen.template(self.d6)[0]
            # And etcd forgets the history: no watch could replay the gap, from any cache.
            cluster.etcd_compact()

    def converged(self) -> Observed:
        seen, before = self.seen, self.before
        state = {
            self.g2: seen.phase(self.g2),
            self.d2: seen.phase(self.d2),
            self.d5: seen.phase(self.d5),
            self.d6: seen.phase(self.d6),
            self.shared: seen.template(self.shared)[2],
            f"{self.d5} restarted": seen.template(self.d5)[3] != before[self.d5][3],
            f"{self.d6} image": seen.template(self.d6)[2],
        }
        ok = (
            state[self.g2] == SUCCEEDED
            and state[self.d2] == ("Blocked", "ConfigNotFound")
            and state[self.d5] == SUCCEEDED
            and state[self.d6] == SUCCEEDED
            and state[self.shared] == image("v3")
            and state[f"{self.d5} restarted"]
            and state[f"{self.d6} image"] == image("v2")
        )
        return Observed(ok, state)

    def judge_gap(self) -> None:
        seen, before, count = self.seen, self.before, self.count
        # g2 took over the shared Deployment: one template change, to its image.
        _, generation, shared_image, _ = seen.template(self.shared)
        if shared_image != image("v3"):
            count("lost", f"g2's image never set: {self.shared} runs {shared_image}")
        if generation > before[self.shared][1] + 1:
            changes = generation - before[self.shared][1]
            count("duplicated", f"{self.shared}: {changes} template changes for 1")
        if seen.phase(self.g2) != SUCCEEDED:
            count("wrong_status", f"g2: {seen.status(self.g2).get('message')}")
        # The deleted ConfigMap blocks its Rollout.
        if seen.phase(self.d2) != ("Blocked", "ConfigNotFound"):
            count("wrong_status", f"{self.d2} is {seen.phase(self.d2)}, its ConfigMap is gone")
        # A ConfigMap deleted and re-created with new content: one restart, to its hash.
        _, generation, _, restart = seen.template(self.d5)
        if restart == before[self.d5][3]:
            count("lost", f"{self.d5} not restarted for the re-created ConfigMap")
        if generation > before[self.d5][1] + 1:
            count("duplicated", f"{self.d5}: {generation - before[self.d5][1]} restarts for 1")
        if seen.status(self.d5).get("restartTrigger") != restart:
            count("wrong_status", f"{self.d5}: restartTrigger is not the template's {restart!r}")
        # A Deployment deleted and re-created with the old image: set again, once.
        uid, generation, d6_image, _ = seen.template(self.d6)
        if uid != self.recreated_uid:
            self.problems.append(f"{self.d6} was replaced again (uid {uid})")
        if d6_image != image("v2"):
            count("lost", f"{self.d6} re-created at v1 and left there: {d6_image}")
        if generation > 2:
            count("duplicated", f"{self.d6} (re-created): generation {generation}, expected 2")
        if seen.phase(self.d6) != SUCCEEDED:
            count("wrong_status", f"{self.d6} is {seen.phase(self.d6)}")

    def edit_only_g1_referenced(self) -> None:
        """Nothing may act on g1 anymore: an edit of the ConfigMap only it referenced is
        judged once a later event (another Rollout's ConfigMap) has been acted on."""
        seen = self.seen
        shared_before = seen.template(self.shared)
        barrier_before = seen.template(self.d4)
        self.apply(configmap(self.only_g1, "2"))
        time.sleep(1.0)  # the barrier's event comes strictly after it on the same watch
        self.apply(configmap(self.barrier, "2"))
        try:
            wait_for(
                lambda: (
                    seen.template(self.d4)[3] != barrier_before[3]
                    and seen.phase(self.d4) == SUCCEEDED
                ),
                timeout=120,
                what=f"the barrier: {self.d4} restarted for its ConfigMap",
            )
        except AssertionError as error:
            self.count("lost", str(error))
        shared_after = seen.template(self.shared)
        if shared_after != shared_before:
            self.count("duplicated", f"{self.shared} changed after an edit only g1 "
                                     f"referenced: {shared_before} -> {shared_after}")  # fmt: skip


def test_watch_gap_with_deletions_and_recreations_leaves_no_ghosts(
    local_cluster: LocalCluster, operators: OperatorFactory, namespace: str, kubectl: Kubectl,
    apps_api: client.AppsV1Api, custom_api: client.CustomObjectsApi, fault_report: FaultReport,
):  # fmt: skip
    seen = Cluster(namespace, apps_api, custom_api)
    row = Row("3 watch gap (ghosts)")
    problems: list[str] = []
    settled: list[float] = []
    operator = operators("faults-gap", "--namespace", namespace)
    try:
        for n in range(rounds(1)):
            row.rounds += 1
            gap = GapRound(n, seen, kubectl, row)
            gap.create()
            if n == 0:
                operator.start()
            gap.settled_before()
            expired_before = metric(operator.metrics(), WATCH_RESTARTS, reason="expired")
            gap.gap(local_cluster, operator)
            started = time.monotonic()
            try:
                wait_for(gap.converged, timeout=180, interval=0.5, what="the gap's changes applied")
            except AssertionError as error:
                gap.problems.append(str(error))
            settled.append(time.monotonic() - started)
            expired = metric(operator.metrics(), WATCH_RESTARTS, reason="expired") - expired_before
            assert expired >= 3, (
                "the fault made no watch gap (no 410 re-list): the scenario tested nothing; "
                f"{WATCH_RESTARTS}{{reason=expired}} went up by {expired}"
            )
            gap.judge_gap()
            gap.edit_only_g1_referenced()
            problems += [f"round {n + 1}: {p}" for p in gap.problems]
    finally:
        row.notes["settled after the gap s"] = seconds(settled)
        row.details = problems
        fault_report.add(row)
    assert not problems, "\n".join(problems)
