"""A fleet of Rollouts under faults, and the judgement of what the faults did to it.

A `Fleet` of Deployments, each with a Rollout and a ConfigMap the Rollout restarts on,
takes requests (new image tag, new spec.restartedAt, new ConfigMap content) with a unique
value each, so that every template a Deployment ever had is recognisable. A
`TemplateRecorder` watches the Deployments and keeps every generation it sees. After the
fleet settles, each Rollout counts as
- lost: a requested image or restart is not in the pod template;
- duplicated: more template changes than requested, or a change back to an earlier image or
  restart value (a write from stale state);
- wrong status: the Rollout's status contradicts the workload.
Fewer template changes than requests are fine: requests that follow each other quickly may
be applied together (v2 then v3 at once: one change, to v3).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

from rollout_operator.confighash import combined_hash, content_hash

from .faults import FaultReport, Row
from .kube import Kubectl, Observed, make_deployment, wait_for
from .rollouts import GROUP, PLURAL, VERSION, make_rollout

RESTART_ANNOTATION = "rollout-operator.dev/restart"
IMAGE_REPO = "registry.local/e2e/app"
CONTAINER = "app"


# What the Deployments went through ---------------------------------------------------
@dataclass(frozen=True)
class Template:
    """One generation of a Deployment's pod template, as far as we judge it."""

    generation: int
    image: str
    restart: str | None


def template_of(deployment: Any) -> Template:
    """From a kubernetes-client V1Deployment."""
    spec = deployment.spec.template
    image = next(c.image for c in spec.spec.containers if c.name == CONTAINER)
    annotations = (spec.metadata.annotations if spec.metadata else None) or {}
    return Template(deployment.metadata.generation, image, annotations.get(RESTART_ANNOTATION))


class TemplateRecorder:
    """Watches the Deployments of a namespace and keeps every generation it sees.

    A watch that breaks (apiserver restart) is resumed, or listed again after 410: then some
    generations may be unobserved, which `Fleet.score` detects (generation gaps) and counts
    with the generation numbers only.
    """

    def __init__(self, apps_api: client.AppsV1Api, namespace: str) -> None:
        self.apps_api = apps_api
        self.namespace = namespace
        self.history: dict[str, list[Template]] = {}
        self._uids: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="template-recorder", daemon=True)

    def __enter__(self) -> TemplateRecorder:
        self._list()  # the baseline is complete before any request is made
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _see(self, deployment: Any) -> None:
        name, uid = deployment.metadata.name, deployment.metadata.uid
        template = template_of(deployment)
        with self._lock:
            if self._uids.get(name) != uid:  # a new object under an old name: a new history
                self._uids[name] = uid
                self.history[name] = []
            seen = self.history[name]
            if not seen or template.generation > seen[-1].generation:
                seen.append(template)

    def _list(self) -> str:
        listing = self.apps_api.list_namespaced_deployment(self.namespace, _request_timeout=10)
        for item in listing.items:
            self._see(item)
        version: str = listing.metadata.resource_version
        return version

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                stream = watch.Watch().stream(
                    self.apps_api.list_namespaced_deployment,
                    self.namespace,
                    resource_version=version,
                    timeout_seconds=5,
                    _request_timeout=15,
                )
                for event in stream:
                    obj = event["object"]
                    version = obj.metadata.resource_version
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._see(obj)
            except Exception:  # apiserver away, 410...: list again when it answers
                version = None
                self._stop.wait(0.5)

    def since(self, name: str, generation: int) -> list[Template]:
        with self._lock:
            return [t for t in self.history.get(name, []) if t.generation >= generation]

    def all(self, name: str) -> list[Template]:
        with self._lock:
            return list(self.history.get(name, []))


# The fleet under test ----------------------------------------------------------------
@dataclass
class Target:
    """One Deployment, its Rollout and its ConfigMap (all named `name`), and the requests."""

    name: str
    tag: int = 1
    restarted_at: str | None = None
    config: int = 0
    # The round under way:
    generation_before: int = 0
    restart_before: str | None = None
    image_requests: int = 0
    restart_requests: int = 0

    @property
    def image(self) -> str:
        return f"{IMAGE_REPO}:v{self.tag}"

    @property
    def requests(self) -> int:
        return self.image_requests + self.restart_requests


@dataclass
class Verdict:
    """One target after a round: what is lost, what its status gets wrong."""

    lost: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    #: The Deployment rolled out and the Rollout says Succeeded and Ready for its current
    #: generation: only then is there nothing left to happen. (Without it, a fleet whose
    #: Deployments are still rolling out and whose Rollouts have no status yet looks right.)
    settled: bool = False
    #: What was seen, for the failure message.
    seen: str = ""

    @property
    def done(self) -> bool:
        return not self.lost and not self.wrong and self.settled


@dataclass
class Score:
    """Counts for one round (each a number of Rollouts), with the evidence."""

    lost: int = 0
    duplicated: int = 0
    wrong_status: int = 0
    unobserved: int = 0
    details: list[str] = field(default_factory=list)

    def add(self, other: Score) -> None:
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.wrong_status += other.wrong_status
        self.unobserved += other.unobserved
        self.details += other.details


@dataclass(frozen=True)
class Snapshot:
    deployments: dict[str, Any]
    rollouts: dict[str, dict[str, Any]]
    configmaps: dict[str, Any]


ACTIONS = ("image", "restart", "config")


class Fleet:
    """N Deployments (1 replica), each with a Rollout that sets its image and restarts it
    when its ConfigMap changes; requests with unique values; judgement after each round."""

    def __init__(
        self,
        namespace: str,
        size: int,
        *,
        kubectl: Kubectl,
        apps_api: client.AppsV1Api,
        core_api: client.CoreV1Api,
        custom_api: client.CustomObjectsApi,
        rng: random.Random,
        prefix: str = "w",
    ) -> None:
        self.namespace = namespace
        self.kubectl = kubectl
        self.apps_api = apps_api
        self.core_api = core_api
        self.custom_api = custom_api
        self.rng = rng
        self.targets = {f"{prefix}{i}": Target(f"{prefix}{i}") for i in range(size)}
        self._counter = 0

    # Set-up ----------------------------------------------------------------------------
    def create(self) -> None:
        """The objects, created while no operator may be running yet (see `adopted`)."""
        items: list[dict[str, Any]] = []
        for name in self.targets:
            items.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name},
                    "data": {"content": "0"},
                }
            )
            items.append(make_deployment(name, image=f"{IMAGE_REPO}:v1", replicas=1))
            items.append(
                make_rollout(
                    name, name, containers=[{"name": CONTAINER, "tag": "v1"}], config_maps=[name]
                )
            )
        self.kubectl.apply({"apiVersion": "v1", "kind": "List", "items": items}, self.namespace)

    def adopted(self, timeout: float = 180) -> None:
        """Every Rollout Succeeded on its unchanged Deployment: the baseline of round 1.

        Requests made before the operator first saw a Rollout are its starting point, not
        requests (adoption restarts nothing), so no request may come before this returns."""
        self.begin_round()
        _, verdicts = self.settle(timeout)
        bad = {name: v for name, v in verdicts.items() if not v.done}
        assert not bad, f"the fleet did not settle before any fault: {bad}"
        changed = {
            name: d.metadata.generation
            for name, d in self.snapshot().deployments.items()
            if d.metadata.generation != 1
        }
        assert not changed, f"adoption changed pod templates: {changed}"
        self.begin_round()

    # Requests --------------------------------------------------------------------------
    def begin_round(self) -> None:
        """Record where each Deployment stands before this round's requests."""
        deployments = self.snapshot().deployments
        for target in self.targets.values():
            template = template_of(deployments[target.name])
            target.generation_before = template.generation
            target.restart_before = template.restart
            target.image_requests = target.restart_requests = 0

    def _patch_rollout(self, name: str, spec: dict[str, Any]) -> None:
        self.custom_api.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, {"spec": spec}
        )

    def request(self, name: str, action: str) -> None:
        """One request with a value never used before."""
        target = self.targets[name]
        self._counter += 1
        if action == "image":
            target.tag += 1
            target.image_requests += 1
            self._patch_rollout(
                name, {"containers": [{"name": CONTAINER, "tag": f"v{target.tag}"}]}
            )
        elif action == "restart":
            # Unique, and the conventional shape: a UTC timestamp.
            value = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{self._counter:06d}Z"
            target.restarted_at = value
            target.restart_requests += 1
            self._patch_rollout(name, {"restartedAt": value})
        elif action == "config":
            target.config += 1
            target.restart_requests += 1
            self.core_api.patch_namespaced_config_map(
                name, self.namespace, {"data": {"content": str(target.config)}}
            )
        else:
            raise ValueError(action)

    def request_random(self, count: int) -> list[tuple[str, str]]:
        """`count` requests on random targets; returns what was asked."""
        asked = []
        for _ in range(count):
            name = self.rng.choice(sorted(self.targets))
            action = self.rng.choice(ACTIONS)
            self.request(name, action)
            asked.append((name, action))
        return asked

    # Observation and judgement ---------------------------------------------------------
    def snapshot(self) -> Snapshot:
        ns = self.namespace
        deployments = self.apps_api.list_namespaced_deployment(ns, _request_timeout=10).items
        rollouts = self.custom_api.list_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, _request_timeout=10
        )["items"]
        configmaps = self.core_api.list_namespaced_config_map(ns, _request_timeout=10).items
        return Snapshot(
            {d.metadata.name: d for d in deployments},
            {r["metadata"]["name"]: r for r in rollouts},
            {c.metadata.name: c for c in configmaps},
        )

    def expected_config(self, snap: Snapshot, name: str) -> str:
        """The `config=` part of the restart annotation for the ConfigMap's current content."""
        cm = snap.configmaps[name]
        digest = content_hash({"data": cm.data or {}, "binaryData": cm.binary_data or {}})
        return "config=" + combined_hash({f"ConfigMap/{name}": digest})[:16]

    def verdict(self, snap: Snapshot, target: Target) -> Verdict:
        """Judge one target against what was requested and what its status says."""
        verdict = Verdict()
        deployment = snap.deployments.get(target.name)
        rollout = snap.rollouts.get(target.name)
        if deployment is None or rollout is None:
            verdict.lost.append("Deployment or Rollout missing")
            return verdict
        template = template_of(deployment)
        restart = template.restart or ""
        parts = set(restart.split())
        # Lost: a request that is not in the pod template.
        if template.image != target.image:
            verdict.lost.append(f"image {template.image}, requested {target.image}")
        if target.restart_requests and template.restart == target.restart_before:
            verdict.lost.append(f"no restart since {target.restart_before!r}")
        if target.restarted_at and f"restartedAt={target.restarted_at}" not in parts:
            verdict.lost.append(f"restartedAt {target.restarted_at} not in {restart!r}")
        if target.config and self.expected_config(snap, target.name) not in parts:
            verdict.lost.append(f"ConfigMap content v{target.config} not in {restart!r}")
        # Wrong status: it says something else than the workload shows.
        status = rollout.get("status") or {}
        dstatus = deployment.status
        replicas = deployment.spec.replicas
        complete = (
            (dstatus.observed_generation or 0) >= deployment.metadata.generation
            and (dstatus.updated_replicas or 0) == replicas
            and (dstatus.available_replicas or 0) == replicas
            and (dstatus.replicas or 0) == replicas
        )
        current = status.get("observedGeneration") == rollout["metadata"]["generation"]
        succeeded = current and status.get("phase") == "Succeeded"
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        images = {i.get("container"): i.get("image") for i in status.get("images") or []}
        if succeeded and not complete:
            verdict.wrong.append("Succeeded while the Deployment is still rolling out")
        if succeeded and verdict.lost:
            verdict.wrong.append("Succeeded although a request is not applied")
        if complete and not verdict.lost and not (succeeded and ready):
            verdict.wrong.append(
                f"{status.get('phase')}/{status.get('reason')} (Ready={ready}, "
                f"observedGeneration {status.get('observedGeneration')}) on a finished rollout"
            )
        verdict.settled = complete and succeeded and ready
        if succeeded and images.get(CONTAINER) != template.image:
            verdict.wrong.append(f"status image {images.get(CONTAINER)}, runs {template.image}")
        trigger = status.get("restartTrigger") or None
        # Before the first restart the trigger is the baseline adopted, not in the template.
        if succeeded and template.restart is not None and trigger != template.restart:
            verdict.wrong.append(
                f"status restartTrigger {status.get('restartTrigger')!r}, template {restart!r}"
            )
        if not verdict.done:
            verdict.seen = (
                f"Rollout generation {rollout['metadata']['generation']} spec "
                f"{json.dumps(rollout.get('spec'), sort_keys=True)}; status "
                f"{ {k: status.get(k) for k in ('observedGeneration', 'phase', 'reason')} }; "
                f"Deployment generation {template.generation} image {template.image} "
                f"restart {template.restart!r} (observed {dstatus.observed_generation})"
            )
        return verdict

    def verdicts(self) -> dict[str, Verdict]:
        snap = self.snapshot()
        return {name: self.verdict(snap, t) for name, t in self.targets.items()}

    def settle(self, timeout: float = 180) -> tuple[float, dict[str, Verdict]]:
        """Wait until every target is right and settled (or the timeout); seconds taken
        and verdicts."""
        start = time.monotonic()
        last: dict[str, Verdict] = {}

        def all_right() -> Observed:
            nonlocal last
            last = self.verdicts()
            bad = {n: v for n, v in last.items() if not v.done}
            return Observed(not bad, bad)

        with contextlib.suppress(AssertionError):
            wait_for(all_right, timeout=timeout, interval=0.25, what="the fleet to settle")
        return time.monotonic() - start, last

    def score(self, verdicts: dict[str, Verdict], recorder: TemplateRecorder) -> Score:
        """Counts for this round: lost, duplicated, wrong status (Rollouts affected)."""
        score = Score()
        snap = self.snapshot()
        for name, target in self.targets.items():
            verdict = verdicts.get(name) or Verdict(lost=["no verdict"])
            if verdict.lost:
                score.lost += 1
                score.details.append(f"{name} lost: {verdict.lost}")
            if verdict.wrong:
                score.wrong_status += 1
                score.details.append(f"{name} wrong status: {verdict.wrong}")
            elif not verdict.lost and not verdict.settled:
                score.wrong_status += 1
                score.details.append(f"{name} wrong status: not Succeeded and Ready at the end")
            if verdict.seen:
                score.details.append(f"{name} seen: {verdict.seen}")
            generation = snap.deployments[name].metadata.generation
            bumps = generation - target.generation_before
            problems = []
            if bumps > target.requests:
                problems.append(f"{bumps} template changes for {target.requests} requests")
            history = recorder.all(name)
            seen_images: set[str] = set()
            seen_restarts: set[str | None] = set()
            previous: Template | None = None
            for template in history:
                new_image = previous is not None and template.image != previous.image
                new_restart = previous is not None and template.restart != previous.restart
                if template.generation > target.generation_before:
                    if new_image and template.image in seen_images:
                        problems.append(f"gen {template.generation}: back to {template.image}")
                    if new_restart and template.restart in seen_restarts:
                        problems.append(
                            f"gen {template.generation}: back to restart {template.restart!r}"
                        )
                    if previous is not None and template.generation > previous.generation + 1:
                        score.unobserved += template.generation - previous.generation - 1
                seen_images.add(template.image)
                seen_restarts.add(template.restart)
                previous = template
            if problems:
                score.duplicated += 1
                score.details.append(f"{name} duplicated: {problems}")
        return score

    def rollout(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self.custom_api.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )
        return body


def row_from(scenario: str, scores: list[Score], notes: Mapping[str, str]) -> Row:
    """A report row summing the rounds' scores."""
    total = Score()
    for score in scores:
        total.add(score)
    row = Row(scenario, len(scores), total.lost, total.duplicated, total.wrong_status)
    row.details = [f"round {i + 1}: {d}" for i, s in enumerate(scores) for d in s.details]
    if total.unobserved:
        row.notes["unobserved generations"] = str(total.unobserved)
    row.notes.update(notes)
    return row


@contextlib.contextmanager
def reported(
    report: FaultReport, scenario: str, scores: list[Score], notes: dict[str, str]
) -> Iterator[None]:
    """Add the scenario's row when the block ends, also when something in it failed (the
    row then says so; the rounds finished until then are counted)."""
    try:
        yield
    except BaseException as error:
        notes["aborted"] = f"{type(error).__name__} in round {len(scores) + 1}"
        raise
    finally:
        report.add(row_from(scenario, scores, notes))


def assert_clean(scores: list[Score]) -> None:
    """Every count is zero; else fail with the evidence of every round."""
    problems = [f"round {i + 1}: {d}" for i, s in enumerate(scores) for d in s.details]
    assert not problems, "\n".join(problems)
