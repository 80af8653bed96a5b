"""Controller.reconcile (observe → decide → apply) against the in-memory apiserver (FakeApi).

Real parts: the store is filled by real Informer lists (`Cluster.sync`), the decision is the
real `decide`, and what the operator wrote is read back from what the fake received. The
controller's clocks (`time.monotonic` for coalescing and debouncing, `datetime.now` for the
status) are the loop's fake clock (looptime), so "0.5 s later" is exact and instant.
Watch events are delivered by hand (`Cluster.deliver`), the way an informer would, so each
test says exactly which event arrived when.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from conftest import FakeApi, Request, metadata_view

from rollout_operator import paths
from rollout_operator.api import ApiError
from rollout_operator.confighash import content_hash, keyed_hash
from rollout_operator.controller import Controller, ControllerSettings, TransientError
from rollout_operator.informer import Informer
from rollout_operator.logs import JsonFormatter, TextFormatter
from rollout_operator.names import RESTART_ANNOTATION
from rollout_operator.runtime import RuntimeSettings, resources
from rollout_operator.store import RolloutKey

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.looptime(idle_timeout=1),
    pytest.mark.usefixtures("loop_clock"),
]

NS = "ns"
SECRET_KEY = b"k" * 32
WEB = paths.workload("Deployment", NS, "web")
WEB_KEY = (NS, "Deployment", "web")
AGENT = paths.config("ConfigMap", NS, "agent")
OTHER = paths.config("ConfigMap", NS, "other")
CREDS = paths.config("Secret", NS, "creds")
EVENTS = paths.events(NS)


def status_path(name: str = "web") -> str:
    return paths.rollout_status(NS, name)


def rollout_path(name: str = "web") -> str:
    return paths.rollout(NS, name)


# --- objects ----------------------------------------------------------------------------
def rollout(
    name: str = "web",
    *,
    target: str = "web",
    containers: Sequence[dict[str, str]] = (),
    config_maps: Sequence[str] = (),
    secrets: Sequence[str] = (),
    created: str = "2025-12-01T00:00:00Z",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetRef": {"kind": "Deployment", "name": target}}
    if containers:
        spec["containers"] = [dict(c) for c in containers]
    if config_maps or secrets:
        spec["restartOnChangeOf"] = {"configMaps": list(config_maps), "secrets": list(secrets)}
    return {
        "apiVersion": "rollout-operator.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": created,
        },
        "spec": spec,
    }


def tag(value: str) -> list[dict[str, str]]:
    return [{"name": "app", "tag": value}]


def deployment(name: str = "web", image: str = "app:v1") -> dict[str, Any]:
    """A Deployment of 3 replicas, fully rolled out."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 1, "labels": {"app": name}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
        },
    }


def config_map(name: str, value: str = "one") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS},
        "data": {"setting": value},
    }


def secret(name: str, password: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": {"password": base64.b64encode(password.encode()).decode()},
    }


def pod(name: str, image: str, created: str, *, waiting: str | None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"app": "web"},
            "creationTimestamp": created,
        },
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {
            "phase": "Pending" if waiting else "Running",
            "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}],
            "containerStatuses": [{"name": "app", "state": state}],
        },
    }


# --- the harness ------------------------------------------------------------------------
def path_of(body: dict[str, Any]) -> str:
    kind, name = body["kind"], body["metadata"]["name"]
    if kind == "Rollout":
        return rollout_path(name)
    if kind in ("ConfigMap", "Secret"):
        return paths.config(kind, NS, name)
    if kind == "Pod":
        return f"{paths.pods(NS)}/{name}"
    if kind == "Event":
        return f"{EVENTS}/{name}"
    return paths.workload(kind, NS, name)


class Cluster:
    """A FakeApi, a Controller, and what the controller asked for since the last mark."""

    def __init__(
        self,
        api: FakeApi,
        settings: ControllerSettings | None = None,
        secret_key: bytes | None = None,
    ) -> None:
        self.api = api
        self.settings = settings or ControllerSettings()
        self.controller = Controller(api, self.settings, secret_key)  # type: ignore[arg-type]
        self.secrets = secret_key is not None
        #: Keys handed to the work queue (it is not started: tests reconcile by hand).
        self.enqueued: list[RolloutKey] = []
        add = self.controller.queue.add

        def spy(key: RolloutKey, delay: float = 0.0) -> None:
            self.enqueued.append(key)
            add(key, delay)

        self.controller.queue.add = spy  # type: ignore[method-assign]
        self._mark = 0

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object as another client would; the stored copy."""
        return self.api.put(path_of(body), body)

    def edit(self, path: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Change a stored object as another client would (new resourceVersion)."""
        body = self.api.objects[path]
        change(body)
        return self.api.put(path, body)

    async def sync(self) -> None:
        """Every informer's list, as the runtime runs them at the start of an active period."""
        settings = RuntimeSettings(controller=self.settings)
        for resource in resources(settings, self.secrets):
            await Informer(self.api, resource, self.controller).list_all()  # type: ignore[arg-type]
        self.mark()

    async def relist(self, kind: str) -> None:
        """One informer's list again (after a watch gap or a resync)."""
        settings = RuntimeSettings(controller=self.settings)
        for resource in resources(settings, self.secrets):
            if resource.kind == kind:
                await Informer(self.api, resource, self.controller).list_all()  # type: ignore[arg-type]

    def deliver(self, path: str, event: str = "MODIFIED") -> None:
        """The watch event of the object now at `path` (metadata only for configs)."""
        body = self.api.objects[path]
        kind = body["kind"]
        obj = metadata_view(body) if kind in ("ConfigMap", "Secret") else body
        self.controller.on_object(kind, event, obj)

    async def reconcile(self, name: str = "web") -> float | None:
        return await self.controller.reconcile((NS, name))

    def mark(self) -> None:
        """Forget the requests and enqueued keys so far."""
        self._mark = len(self.api.requests)
        self.enqueued.clear()

    def requests(self, verb: str | None = None, path: str | None = None) -> list[Request]:
        return [
            r
            for r in self.api.requests[self._mark :]
            if verb in (None, r.verb) and path in (None, r.path)
        ]

    def status(self, name: str = "web") -> dict[str, Any]:
        status: dict[str, Any] = self.api.objects[rollout_path(name)].get("status") or {}
        return status

    def image(self, name: str = "web") -> str:
        workload = self.api.objects[paths.workload("Deployment", NS, name)]
        image: str = workload["spec"]["template"]["spec"]["containers"][0]["image"]
        return image

    def events(self) -> list[tuple[str, str]]:
        return [(r.body["type"], r.body["reason"]) for r in self.requests("create")]


def roll(cluster: Cluster, updated: int, *, failed: bool = False) -> None:
    """The Deployment controller's answer to the new template: `updated` of 3 new replicas."""

    def change(body: dict[str, Any]) -> None:
        body["status"] = {
            "observedGeneration": body["metadata"]["generation"],
            "replicas": 3,
            "updatedReplicas": updated,
            "readyReplicas": updated,
            "availableReplicas": updated,
            "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]
            if failed
            else [],
        }

    cluster.edit(WEB, change)
    cluster.deliver(WEB)


# --- observe → decide → apply -------------------------------------------------------------
async def test_a_new_image_is_one_narrow_patch_preconditioned_on_the_cached_version(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    cached = cluster.add(deployment())
    await cluster.sync()
    await cluster.reconcile()
    (patch,) = cluster.requests("patch", WEB)
    assert patch.body == {
        "metadata": {"resourceVersion": cached["metadata"]["resourceVersion"]},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}},
    }
    assert patch.params == {"patch_type": "strategic", "field_manager": "rollout-operator"}
    assert cluster.image() == "app:v2"
    (status,) = cluster.requests("patch", status_path())
    assert status.params["patch_type"] == "merge"
    assert set(status.body) == {"status"}
    assert cluster.status()["phase"] == "Progressing"
    assert cluster.events() == [("Normal", "ImageUpdated")]


async def test_status_is_written_only_when_it_differs(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout())
    cluster.add(deployment())
    await cluster.sync()
    await cluster.reconcile()
    assert [(r.verb, r.path) for r in cluster.requests()] == [("patch", status_path())]
    assert cluster.status()["phase"] == "Succeeded"  # adopted as found
    await asyncio.sleep(60)
    cluster.mark()
    assert await cluster.reconcile() is None
    assert cluster.requests() == []  # nothing changed: no request at all


async def test_the_watch_echo_of_our_own_writes_enqueues_nothing(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    cluster.add(deployment())
    await cluster.sync()
    await cluster.reconcile()
    assert cluster.requests("patch", WEB)  # barrier: both writes were made
    assert cluster.requests("patch", status_path())
    cluster.mark()
    cluster.deliver(WEB)  # the echoes carry the versions of our writes' responses
    cluster.deliver(rollout_path())
    assert cluster.enqueued == []
    roll(cluster, updated=1)  # the Deployment controller's status update is news
    assert cluster.enqueued == [(NS, "web")]


async def test_a_409_on_the_workload_refetches_and_patches_the_fresh_version(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    cached = cluster.add(deployment())["metadata"]["resourceVersion"]
    await cluster.sync()
    # Another client labels the Deployment; its watch event is still on the way.
    fresh = cluster.edit(WEB, lambda d: d["metadata"]["labels"].update(team="blue"))
    cluster.mark()
    assert await cluster.reconcile() == 0.0  # look again at once
    (refused,) = cluster.requests("patch", WEB)
    assert refused.body["metadata"]["resourceVersion"] == cached
    assert cluster.image() == "app:v1"  # the stale patch changed nothing
    assert cluster.requests("patch", status_path()) == []  # nor was its decision written
    assert WEB_KEY not in cluster.controller.store.workloads  # the stale copy is dropped
    cluster.mark()
    await cluster.reconcile()
    assert [(r.verb, r.path) for r in cluster.requests(path=WEB)] == [("get", WEB), ("patch", WEB)]
    (retried,) = cluster.requests("patch", WEB)
    assert retried.body["metadata"]["resourceVersion"] == fresh["metadata"]["resourceVersion"]
    assert cluster.image() == "app:v2"
    assert fake_api.objects[WEB]["metadata"]["labels"] == {"app": "web", "team": "blue"}
    assert cluster.status()["phase"] == "Progressing"


async def test_after_a_409_a_change_someone_else_already_made_is_not_written_again(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    cluster.add(deployment())
    await cluster.sync()

    def set_v2(body: dict[str, Any]) -> None:
        body["spec"]["template"]["spec"]["containers"][0]["image"] = "app:v2"
        body["metadata"]["generation"] = 2

    cluster.edit(WEB, set_v2)  # not yet seen by the controller
    await cluster.reconcile()
    await cluster.reconcile()
    assert len(cluster.requests("patch", WEB)) == 1  # only the refused one
    assert cluster.requests("get", WEB)  # barrier: the second reconcile looked again
    assert cluster.status()["images"] == [{"container": "app", "image": "app:v2"}]


async def test_a_404_on_the_status_write_forgets_the_rollout(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout())
    cluster.add(deployment())
    await cluster.sync()
    fake_api.remove(rollout_path())  # deleted; its DELETED event is still on the way
    assert await cluster.reconcile() is None
    assert [(r.verb, r.path) for r in cluster.requests()] == [("patch", status_path())]
    assert (NS, "web") not in cluster.controller.store.rollouts
    cluster.mark()
    assert await cluster.reconcile() is None
    assert cluster.requests() == []


@pytest.mark.parametrize(("code", "reason"), [(403, "Forbidden"), (422, "PatchRejected")])
async def test_a_refused_workload_patch_blocks_with_a_reason(fake_api, code, reason):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    cluster.add(deployment())
    await cluster.sync()
    fake_api.fail("patch", WEB, ApiError(code, "Refused", "denied by policy"))
    assert await cluster.reconcile() is None  # no retry: retrying cannot fix it
    assert cluster.image() == "app:v1"
    assert cluster.status()["phase"] == "Blocked"
    assert cluster.status()["reason"] == reason
    assert "denied by policy" in cluster.status()["message"]
    assert cluster.events() == [("Warning", reason)]


TRANSIENT = [
    ("patch", WEB, ApiError(503, "ServiceUnavailable", "etcd")),
    ("patch", status_path(), ApiError(0, "TimeoutError", "no answer")),
    ("get", WEB, ApiError(500, "InternalError", "boom")),
]


@pytest.mark.parametrize(("verb", "path", "error"), TRANSIENT, ids=["patch", "status", "get"])
async def test_a_transient_failure_raises_transient_error(fake_api, verb, path, error):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    if verb != "get":
        cluster.add(deployment())
    await cluster.sync()
    if verb == "get":  # created after the list: the controller has to GET it
        cluster.add(deployment())
    fake_api.fail(verb, path, error)
    with pytest.raises(TransientError):
        await cluster.reconcile()
    assert cluster.requests(verb, path)  # barrier: the failing request was made
    await cluster.reconcile()  # it passed: the next attempt completes the work
    assert cluster.image() == "app:v2"
    assert cluster.status()["phase"] == "Progressing"


async def test_the_queue_backs_off_after_a_transient_failure(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    cluster.add(deployment())
    await cluster.sync()
    fake_api.fail("patch", WEB, ApiError(503, "ServiceUnavailable", "etcd"))
    cluster.controller.queue.start()
    async with asyncio.timeout(60):
        while cluster.image() != "app:v2":
            await asyncio.sleep(0.1)
    await cluster.controller.queue.stop()
    assert [r.at for r in cluster.requests("patch", WEB)] == [0, 0.5]  # first backoff: 0.5 s


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (rollout(target="../../secrets/web"), "../../secrets/web"),
        (rollout(target="Web_1"), "Web_1"),
        (rollout(config_maps=["agent", "Bad/../agent"]), "Bad/../agent"),
    ],
    ids=["target-traversal", "target-invalid", "configmap-invalid"],
)
async def test_an_invalid_spec_makes_no_request_for_anything_it_names(fake_api, body, named):
    cluster = Cluster(fake_api)
    cluster.add(body)
    cluster.add(deployment())
    cluster.add(config_map("agent"))
    await cluster.sync()
    await cluster.reconcile()
    assert cluster.status()["phase"] == "Blocked"  # barrier: it was judged and said so
    assert named in cluster.status()["message"]
    made = {(r.verb, EVENTS if r.verb == "create" else r.path) for r in cluster.requests()}
    assert all(r.path.startswith(EVENTS + "/") for r in cluster.requests("create"))
    assert made == {("patch", status_path()), ("create", EVENTS)}  # status and its Event only


async def test_a_failed_rollout_reads_its_pods_and_events_once_for_the_cause(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    cluster.add(deployment())
    await cluster.sync()
    await cluster.reconcile()  # starts at 00:00:00
    cluster.add(pod("web-old", "app:v1", "2025-12-01T00:00:00Z", waiting=None))
    cluster.add(pod("web-new", "app:v2", "2026-01-01T00:00:05Z", waiting="ImagePullBackOff"))
    await asyncio.sleep(600)
    roll(cluster, updated=1, failed=True)
    cluster.mark()
    await cluster.reconcile()
    pods, events = cluster.requests("list")
    assert (pods.path, pods.params["label_selector"]) == (paths.pods(NS), "app=web")
    assert (events.path, events.params["field_selector"]) == (
        EVENTS,
        "involvedObject.kind=Pod,type=Warning",
    )
    assert cluster.status()["phase"] == "Failed"
    assert cluster.status()["cause"] == 'pod web-new: container "app": ImagePullBackOff'
    await asyncio.sleep(60)
    roll(cluster, updated=2, failed=True)  # still failed, with more progress to report
    cluster.mark()
    await cluster.reconcile()
    assert cluster.requests("patch", status_path())  # barrier: it was reconciled and written
    assert cluster.requests("list") == []
    assert cluster.status()["cause"] == 'pod web-new: container "app": ImagePullBackOff'


async def test_progress_only_changes_are_coalesced_within_the_status_interval(fake_api):
    cluster = Cluster(fake_api, ControllerSettings(status_interval=2.0))
    cluster.add(rollout(containers=tag("v2")))
    cluster.add(deployment())
    await cluster.sync()
    await cluster.reconcile()  # t=0: the rollout starts; written at once
    roll(cluster, updated=1)
    await asyncio.sleep(0.5)
    cluster.mark()
    assert await cluster.reconcile() == pytest.approx(1.5)  # look again when it may write
    assert cluster.requests() == []
    await asyncio.sleep(1.5)
    await cluster.reconcile()
    (written,) = cluster.requests("patch", status_path())
    assert written.body["status"]["updatedReplicas"] == 1
    roll(cluster, updated=3)
    await asyncio.sleep(0.1)
    cluster.mark()
    await cluster.reconcile()  # a transition is written at once
    assert len(cluster.requests("patch", status_path())) == 1
    assert cluster.status()["phase"] == "Succeeded"


async def test_config_map_events_cost_one_get_per_new_version_of_a_referenced_one(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(config_maps=["agent"]))
    cluster.add(deployment())
    cluster.add(config_map("agent"))
    cluster.add(config_map("other"))
    await cluster.sync()

    def gets(path: str) -> int:
        return len([r for r in fake_api.requests if (r.verb, r.path) == ("get", path)])

    await cluster.reconcile()
    await cluster.reconcile()
    assert gets(AGENT) == 1
    assert cluster.status()["configs"][0]["name"] == "agent"
    cluster.edit(AGENT, lambda c: c["data"].update(setting="two"))
    cluster.deliver(AGENT)
    cluster.deliver(AGENT)  # the same version again (a resumed watch): no news
    cluster.edit(OTHER, lambda c: c["data"].update(setting="two"))
    cluster.deliver(OTHER)
    assert cluster.enqueued == [(NS, "web")]
    settle = await cluster.reconcile()
    assert gets(AGENT) == 2
    assert cluster.status()["reason"] == "RestartPending"
    assert settle == pytest.approx(1.0)  # --restart-debounce
    await asyncio.sleep(settle or 0)
    await cluster.reconcile()
    (restart,) = cluster.requests("patch", WEB)  # barrier: the edit was acted on
    assert RESTART_ANNOTATION in restart.body["spec"]["template"]["metadata"]["annotations"]
    assert gets(AGENT) == 2
    assert gets(OTHER) == 0
    assert (NS, "ConfigMap", "other") not in cluster.controller.store.configs


async def test_secret_hashes_are_keyed_and_appear_in_no_request_and_no_log(fake_api, caplog):
    caplog.set_level(logging.DEBUG)
    cluster = Cluster(fake_api, ControllerSettings(secrets_enabled=True), SECRET_KEY)
    cluster.add(rollout(secrets=["creds"]))
    cluster.add(deployment())
    before = cluster.add(secret("creds", "hunter2"))
    await cluster.sync()
    await cluster.reconcile()
    after = cluster.edit(CREDS, lambda s: s["data"].update(password="aHVudGVyMw=="))  # hunter3
    cluster.deliver(CREDS)
    await cluster.reconcile()
    await asyncio.sleep(1)
    await cluster.reconcile()
    assert cluster.requests("patch", WEB)  # barrier: the edit restarted the workload

    keyed = [keyed_hash(SECRET_KEY, "Secret", NS, "creds", s) for s in (before, after)]
    plain = [content_hash(s).partition(":")[2] for s in (before, after)]
    plain += [hashlib.sha256(p).hexdigest() for p in (b"hunter2", b"hunter3")]
    received = json.dumps([(r.verb, r.path, r.body, r.params) for r in fake_api.requests])
    assert keyed[1] in received  # status.configs records the keyed hash...
    for digest in plain:  # ...and nothing anyone could recompute from the content
        assert digest not in received

    text, formats = TextFormatter(), JsonFormatter()
    logged = "\n".join(
        f"{text.format(r)}\n{formats.format(r)}\n{r.__dict__!r}" for r in caplog.records
    )
    assert "RestartTriggered" in logged  # barrier: the restart was logged
    for digest in [*plain, *(k.rpartition(":")[2] for k in keyed)]:
        assert digest not in logged


# --- sweeps after a re-list ---------------------------------------------------------------
async def test_a_rollout_missing_from_a_relist_is_forgotten_and_the_next_one_takes_over(
    fake_api,
):
    cluster = Cluster(fake_api)
    cluster.add(rollout("g1", containers=tag("v2"), created="2025-12-01T00:00:00Z"))
    cluster.add(rollout("g2", containers=tag("v3"), created="2025-12-02T00:00:00Z"))
    cluster.add(deployment())
    await cluster.sync()
    await cluster.reconcile("g1")
    await cluster.reconcile("g2")
    assert cluster.status("g2")["reason"] == "TargetClaimed"
    with fake_api.unwatched():  # g1 is deleted while no watch is open
        fake_api.remove(rollout_path("g1"))
    cluster.mark()
    await cluster.relist("Rollout")
    assert (NS, "g1") not in cluster.controller.store.rollouts
    assert cluster.enqueued == [(NS, "g2")]
    assert await cluster.reconcile("g1") is None
    await cluster.reconcile("g2")
    assert cluster.status("g2")["reason"] != "TargetClaimed"
    assert cluster.image() == "app:v3"
    assert not [r for r in cluster.requests() if "g1" in r.path]


async def test_a_config_map_missing_from_a_relist_blocks_its_rollout(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(config_maps=["agent"]))
    cluster.add(deployment())
    cluster.add(config_map("agent"))
    await cluster.sync()
    await cluster.reconcile()
    assert cluster.status()["phase"] == "Succeeded"
    with fake_api.unwatched():
        fake_api.remove(AGENT)
    cluster.mark()
    await cluster.relist("ConfigMap")
    assert cluster.enqueued == [(NS, "web")]
    await cluster.reconcile()
    assert (cluster.status()["phase"], cluster.status()["reason"]) == ("Blocked", "ConfigNotFound")


async def test_a_list_taken_before_a_fetch_does_not_sweep_the_fetched_object(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout())
    await cluster.sync()  # the Deployment list has no "web" yet
    listed_at = str(fake_api.revision)
    cluster.add(deployment())  # created after that list was taken
    await cluster.reconcile()  # not cached: fetched
    assert cluster.requests("get", WEB)
    assert cluster.status()["phase"] == "Succeeded"
    cluster.mark()
    cluster.controller.on_listed("Deployment", None, set(), listed_at)  # that list, late
    assert cluster.enqueued == []
    assert cluster.controller.store.workloads[WEB_KEY] is not None
    await cluster.reconcile()
    assert cluster.requests() == []  # still Succeeded, nothing to write
    fake_api.remove(WEB)  # a list taken after the fetch does sweep it
    cluster.controller.on_listed("Deployment", None, set(), str(fake_api.revision))
    assert cluster.enqueued == [(NS, "web")]
    await cluster.reconcile()
    assert cluster.status()["reason"] == "TargetNotFound"


# --- more ways to lose or duplicate work --------------------------------------------------
async def test_a_404_on_the_workload_patch_refetches_and_finds_the_target_gone(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(containers=tag("v2")))
    cluster.add(deployment())
    await cluster.sync()
    fake_api.remove(WEB)  # deleted; its DELETED event is still on the way
    assert await cluster.reconcile() == 0.0
    assert WEB_KEY not in cluster.controller.store.workloads
    await cluster.reconcile()
    assert cluster.requests("get", WEB)
    assert cluster.status()["reason"] == "TargetNotFound"


async def test_a_restarted_operator_trusts_the_recorded_config_hash_and_gets_nothing(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout(config_maps=["agent"]))
    cluster.add(deployment())
    cluster.add(config_map("agent"))
    await cluster.sync()
    await cluster.reconcile()
    assert cluster.requests("get", AGENT)  # the first sighting is fetched and recorded
    restarted = Cluster(fake_api)  # a new process (or active period) with an empty store
    await restarted.sync()
    await restarted.reconcile()
    assert restarted.requests() == []  # status.configs has this very version's hash
    restarted.edit(AGENT, lambda c: c["data"].update(setting="two"))
    restarted.deliver(AGENT)
    await restarted.reconcile()
    assert len(restarted.requests("get", AGENT)) == 1  # a new version is fetched once


async def test_a_spec_edit_that_lands_before_our_status_write_is_not_lost(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout())
    cluster.add(deployment())
    await cluster.sync()
    await cluster.reconcile()  # adopted: Succeeded
    # A pod of the Deployment dies: the controller reconciles to report it...
    cluster.edit(WEB, lambda d: d["status"].update(availableReplicas=2))
    cluster.deliver(WEB)

    edited = rollout(containers=tag("v2"))  # ...while the user asks for v2 (not yet seen)
    edited["metadata"]["generation"] = 2
    edited["status"] = cluster.status()

    def user_edit(verb: str, path: str, body: Any) -> None:
        if (verb, path) == ("patch", status_path()):
            fake_api.hooks.clear()
            fake_api.put(rollout_path(), edited)

    fake_api.hooks.append(user_edit)
    cluster.mark()
    await cluster.reconcile()
    assert cluster.requests("patch", status_path())  # barrier: our write carried the edit back
    assert fake_api.objects[rollout_path()]["spec"]["containers"] == tag("v2")
    written = int(fake_api.objects[rollout_path()]["metadata"]["resourceVersion"])
    edited["metadata"]["resourceVersion"] = str(written - 1)  # the edit's own version
    cluster.controller.on_object("Rollout", "MODIFIED", edited)  # its watch event
    cluster.deliver(rollout_path())  # the echo of our status write
    for key in set(cluster.enqueued):
        await cluster.controller.reconcile(key)
    assert cluster.image() == "app:v2"
    assert cluster.status()["observedGeneration"] == 2


async def test_rollouts_sharing_a_config_map_fetch_each_version_once(fake_api):
    cluster = Cluster(fake_api, ControllerSettings(workers=2))
    cluster.add(rollout("web", config_maps=["agent"]))
    cluster.add(rollout("api", target="api", config_maps=["agent"]))
    cluster.add(deployment())
    cluster.add(deployment("api"))
    cluster.add(config_map("agent"))
    await cluster.sync()
    cluster.controller.queue.start()
    async with asyncio.timeout(60):
        while not (cluster.status("web") and cluster.status("api")):
            await asyncio.sleep(0.1)
    assert len(cluster.requests("get", AGENT)) == 1
    cluster.edit(AGENT, lambda c: c["data"].update(setting="two"))
    cluster.deliver(AGENT)
    restarted = [paths.workload("Deployment", NS, name) for name in ("web", "api")]
    async with asyncio.timeout(60):
        while not all(cluster.requests("patch", path) for path in restarted):
            await asyncio.sleep(0.1)
    await cluster.controller.queue.stop()
    assert len(cluster.requests("get", AGENT)) == 2


async def test_a_rollout_forgotten_after_a_404_hands_its_claim_over(fake_api):
    cluster = Cluster(fake_api)
    cluster.add(rollout("g1", containers=tag("v2"), created="2025-12-01T00:00:00Z"))
    cluster.add(rollout("g2", containers=tag("v3"), created="2025-12-02T00:00:00Z"))
    cluster.add(deployment())
    await cluster.sync()
    await cluster.reconcile("g1")
    await cluster.reconcile("g2")
    assert cluster.status("g2")["reason"] == "TargetClaimed"
    deleted = fake_api.objects[rollout_path("g1")]
    fake_api.remove(rollout_path("g1"))  # its DELETED event is still on the way
    await asyncio.sleep(10)
    roll(cluster, updated=1)  # the Deployment moves: both Rollouts are reconciled
    cluster.mark()
    await cluster.reconcile("g2")  # still claimed by g1: nothing to write
    await cluster.reconcile("g1")  # its status write: 404, forgotten
    assert [(r.verb, r.path) for r in cluster.requests()] == [("patch", status_path("g1"))]
    cluster.controller.on_object("Rollout", "DELETED", deleted)
    for key in set(cluster.enqueued):
        await cluster.controller.reconcile(key)
    assert cluster.status("g2")["reason"] != "TargetClaimed"
    assert cluster.image() == "app:v3"
