"""The six scenarios. Each fills a ScenarioResult; none asserts anything about time.

Clocks: every duration is a difference of time.monotonic() readings in this process;
watch events are stamped when their bytes arrive (kapi.Watch).
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes

from . import objects as o
from .cluster import Cluster
from .kapi import STRATEGIC_MERGE_PATCH, Api, Watch, WatchEvent
from .operator_proc import Operator, Samples, delta, parse_selected, total
from .report import Row, ScenarioResult

OPERATOR_REQUESTS = "rollout_operator_api_request_duration_seconds_count"
APISERVER_REQUESTS = "apiserver_request_total"
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION")


@dataclass(frozen=True)
class Sizes:
    reps: int
    scale_rollouts: int
    namespaces: int
    unmanaged: int
    unmanaged_configmap_bytes: int
    quiet_rollouts: int
    idle_seconds: float
    startup_reps: int

    @classmethod
    def quick(cls) -> Sizes:
        return cls(5, 20, 10, 200, 4096, 10, 10, 2)

    @classmethod
    def full(cls) -> Sizes:
        return cls(30, 1000, 10, 5000, 4096, 100, 60, 3)


class Bench:
    """What the scenarios share: the cluster, a client, watches and operator processes."""

    def __init__(self, cluster: Cluster, sizes: Sizes, log_dir: Path) -> None:
        self.cluster = cluster
        self.sizes = sizes
        self.log_dir = log_dir
        self.api: Api | None = None
        self._watches: list[Watch] = []
        self._operators: list[Operator] = []
        self._runs = 0

    def fresh_cluster(self, nodes: int) -> Api:
        self.close()
        self.cluster.fresh(nodes)
        self.api = Api(self.cluster.kubeconfig)
        # "Established" comes before the CRD's watch cache is ready; until then LISTs get
        # 429 "storage is (re)initializing" and the operator's start would wait a retry.
        deadline = time.monotonic() + 60
        while True:
            status, _ = self.api.raw("GET", o.rollouts_path())
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"listing Rollouts still answers {status} after 60 s")
            time.sleep(0.1)
        return self.api

    def watch(
        self,
        path: str,
        label_selector: str | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
    ) -> Watch:
        assert self.api is not None
        watch = Watch(self.api, path, label_selector, on_event).start()
        self._watches.append(watch)
        return watch

    def operator(self, *args: str, name: str = "operator") -> Operator:
        self._runs += 1
        process = Operator(
            self.cluster.kubeconfig, self.log_dir / f"{self._runs:02d}-{name}.log", args
        )
        self._operators.append(process)
        process.start()
        process.wait_healthy()
        return process

    def stop_operators(self) -> None:
        for process in self._operators:
            process.stop()
        self._operators = []

    def close(self) -> None:
        """Stop operators and watches (the cluster stays)."""
        self.stop_operators()
        for watch in self._watches:
            watch.stop()
        self._watches = []

    def apiserver_requests(self) -> Samples:
        assert self.api is not None
        return parse_selected(self.api.metrics_text(), [APISERVER_REQUESTS])

    def namespaces(self, *names: str) -> None:
        assert self.api is not None
        self.api.create_many([("/api/v1/namespaces", o.namespace(n)) for n in names])

    def kubectl(self, *args: str) -> list[str]:
        return self.cluster.kubectl_command(*args)


# Helpers ----------
def _run_timed(command: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a subprocess; (monotonic start, monotonic exit, output). Fails on non-zero exit."""
    start = time.monotonic()
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    end = time.monotonic()
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} failed: {result.stderr.strip()}")
    return start, end, result.stdout


class Background:
    """A subprocess whose exit is stamped by a thread blocked in wait()."""

    def __init__(self, command: Sequence[str], env: dict[str, str]) -> None:
        self.command = list(command)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.exited = math.nan
        self.output = ""
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        self.process.wait()
        self.exited = time.monotonic()

    def join(self, timeout: float = 180) -> float:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.process.kill()
            raise TimeoutError(f"{' '.join(self.command[3:])} did not exit")
        assert self.process.stdout is not None
        self.output = self.process.stdout.read()
        if self.process.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.command[3:])} exited "
                f"{self.process.returncode}: {self.output.strip()}"
            )
        return self.exited


def _named(namespace: str, name: str) -> Callable[[dict[str, Any]], bool]:
    def match(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return bool(meta.get("namespace") == namespace and meta.get("name") == name)

    return match


def _event(
    namespace: str, name: str, predicate: Callable[[dict[str, Any]], bool]
) -> Callable[[str, dict[str, Any]], bool]:
    is_it = _named(namespace, name)
    return lambda kind, obj: kind != "DELETED" and is_it(obj) and predicate(obj)


def _operator_requests(before: Samples, after: Samples) -> dict[str, float]:
    """Per (verb resource code) counts of the operator's own requests between two scrapes."""
    counts: dict[str, float] = {}
    for (name, labels), value in delta(after, before).items():
        if name == OPERATOR_REQUESTS:
            have = dict(labels)
            key = f"{have.get('verb')} {have.get('resource')} {have.get('code')}"
            counts[key] = counts.get(key, 0) + value
    return dict(sorted(counts.items()))


def _apiserver_writes(change: Samples) -> dict[str, float]:
    """apiserver write requests by 'VERB resource[/subresource]' from a delta."""
    counts: dict[str, float] = {}
    for (name, labels), value in change.items():
        have = dict(labels)
        if name != APISERVER_REQUESTS or have.get("verb") not in WRITE_VERBS:
            continue
        resource = have.get("resource", "") + (
            "/" + have["subresource"] if have.get("subresource") else ""
        )
        key = f"{have['verb']} {resource}"
        counts[key] = counts.get(key, 0) + value
    return dict(sorted(counts.items()))


def _operator_writes(requests: dict[str, float]) -> float:
    return sum(v for k, v in requests.items() if k.split()[0] in ("patch", "create"))


@contextmanager
def _sampling(process: Operator, interval: float = 1.0) -> Iterator[list[tuple[float, float, int]]]:
    """Samples (monotonic, cpu seconds, VmRSS) every `interval` while the block runs."""
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()

    def loop() -> None:
        while True:
            samples.append((time.monotonic(), process.cpu_seconds(), process.memory()["VmRSS"]))
            if stop.wait(interval):
                samples.append((time.monotonic(), process.cpu_seconds(), process.memory()["VmRSS"]))
                return

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


class ReadyTracker:
    """Keys of a cluster-wide watch that satisfy a predicate, and when they first did."""

    def __init__(self, predicate: Callable[[dict[str, Any]], bool], expected: int) -> None:
        self.predicate = predicate
        self.expected = expected
        self.first: dict[tuple[str, str], float] = {}
        self.done = threading.Event()
        self._lock = threading.Lock()

    def seed(self, watch: Watch) -> None:
        now = time.monotonic()
        for obj in watch.snapshot():
            self._see(now, obj)

    def on_event(self, event: WatchEvent) -> None:
        arrived, kind, obj = event
        if kind != "DELETED":
            self._see(arrived, obj)

    def _see(self, arrived: float, obj: dict[str, Any]) -> None:
        if not self.predicate(obj):
            return
        meta = obj["metadata"]
        with self._lock:
            self.first.setdefault((meta["namespace"], meta["name"]), arrived)
            if len(self.first) >= self.expected:
                self.done.set()

    def wait(self, timeout: float, what: str) -> float:
        if not self.done.wait(timeout):
            raise TimeoutError(f"{what}: {len(self.first)} of {self.expected} after {timeout:g}s")
        return max(self.first.values())


def _wait_all_deployments(bench: Bench, expected: int, selector: str, timeout: float) -> None:
    tracker = ReadyTracker(o.deployment_done, expected)
    watch = bench.watch(o.deployments_path(), selector, tracker.on_event)
    tracker.seed(watch)
    tracker.wait(timeout, "Deployments rolled out")
    watch.stop()


# 1 + 2: reaction latency and completion detection ----------
def reaction_and_completion(  # noqa: PLR0915
    bench: Bench, operator: Operator, r1: ScenarioResult, r2: ScenarioResult
) -> None:
    api = bench.api
    assert api is not None
    ns = "bench-latency"
    bench.namespaces(ns)
    api.create_many(
        [
            (o.deployments_path(ns), o.deployment(ns, "managed", "v0")),
            (o.deployments_path(ns), o.deployment(ns, "reference", "v0")),
            (o.rollouts_path(ns), o.rollout(ns, "managed", "managed", tag="v0")),
        ]
    )
    deployments = bench.watch(o.deployments_path(ns))
    rollouts = bench.watch(o.rollouts_path(ns))
    rollouts.wait_object(ns, "managed", o.rollout_ready, what="initial Rollout Ready")
    deployments.wait_object(ns, "reference", o.deployment_done)
    typed = kubernetes.client.AppsV1Api(kubernetes.client.ApiClient(api.configuration))
    env = bench.cluster.env()
    rollout_path = f"{o.rollouts_path(ns)}/managed"

    reaction, kubectl_patch, client_patch, client_seen = [], [], [], []
    operator_lag, kubectl_lag, spec_to_ready = [], [], []
    before = operator.metrics()
    for rep in range(bench.sizes.reps + 1):  # rep 0 warms up caches and connections
        record = rep > 0
        tag = f"r{rep}"
        # Operator: Rollout spec edit -> the Deployment's pod template has the new image.
        since_d, since_r = deployments.mark(), rollouts.mark()
        t0 = time.monotonic()
        patched = api.patch(
            rollout_path, {"spec": {"containers": [{"name": o.CONTAINER, "tag": tag}]}}
        )
        generation = patched["metadata"]["generation"]
        new_image = o.image(tag)
        t_template = deployments.wait(
            _event(ns, "managed", lambda d, i=new_image: o.container_image(d) == i),
            since_d,
            what="operator patch of the Deployment",
        )[0]
        # ...and `kubectl rollout status` started the moment the workload changed.
        status_cmd = Background(
            bench.kubectl("rollout", "status", "deployment/managed", "-n", ns, "--timeout=120s"),
            env,
        )
        t_done = deployments.wait(
            _event(
                ns,
                "managed",
                lambda d, i=new_image: o.container_image(d) == i and o.deployment_done(d),
            ),
            since_d,
            what="Deployment rolled out",
        )[0]
        t_ready = rollouts.wait(
            _event(
                ns,
                "managed",
                lambda r, g=generation: r["metadata"]["generation"] == g and o.rollout_ready(r),
            ),
            since_r,
            what="Rollout Ready",
        )[0]
        t_exit = status_cmd.join()
        if record:
            reaction.append(t_template - t0)
            operator_lag.append(t_ready - t_done)
            kubectl_lag.append(t_exit - t_done)
            spec_to_ready.append(t_ready - t0)

        # References on an unmanaged Deployment: kubectl patch, then the python client.
        ref_image = o.image(f"k{rep}")
        since_d = deployments.mark()
        start, end, _ = _run_timed(
            bench.kubectl(
                "patch",
                "deployment",
                "reference",
                "-n",
                ns,
                "--type",
                "strategic",
                "-p",
                json.dumps(
                    {
                        "spec": {
                            "template": {
                                "spec": {"containers": [{"name": o.CONTAINER, "image": ref_image}]}
                            }
                        }
                    }
                ),
            ),
            env,
        )
        deployments.wait(
            _event(ns, "reference", lambda d, i=ref_image: o.container_image(d) == i), since_d
        )
        deployments.wait_object(ns, "reference", o.deployment_done)
        if record:
            kubectl_patch.append(end - start)

        ref_image = o.image(f"p{rep}")
        since_d = deployments.mark()
        t0 = time.monotonic()
        typed.patch_namespaced_deployment(
            "reference",
            ns,
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": o.CONTAINER, "image": ref_image}]}
                    }
                }
            },
            _content_type=STRATEGIC_MERGE_PATCH,
        )
        t1 = time.monotonic()
        t_seen = deployments.wait(
            _event(ns, "reference", lambda d, i=ref_image: o.container_image(d) == i), since_d
        )[0]
        deployments.wait_object(ns, "reference", o.deployment_done)
        if record:
            client_patch.append(t1 - t0)
            client_seen.append(t_seen - t0)
    requests = _operator_requests(before, operator.metrics())
    patches = requests.get("patch deployments 2xx", 0)

    r1.rows += [
        Row.of("operator: Rollout spec edit → Deployment pod template updated (watch)", reaction),
        Row.of("reference: `kubectl patch deployment` (subprocess round trip)", kubectl_patch),
        Row.of("reference: python client `patch_namespaced_deployment` round trip", client_patch),
        Row.of("reference: python client patch → seen on a watch", client_seen),
        Row.single(
            "operator workload patches per spec change",
            patches / (bench.sizes.reps + 1),
            "count",
            bench.sizes.reps + 1,
        ),
    ]
    r1.notes.append(
        "The operator path is: our PATCH of the Rollout, its watch event to the operator, a "
        "reconcile, the operator's PATCH of the Deployment, that Deployment's watch event to "
        "us. The last reference row is the floor of any watch-driven write: one PATCH plus one "
        "watch delivery."
    )
    r1.extra["operator_requests"] = requests
    r2.rows += [
        Row.of("operator: Deployment done → Rollout Ready=True at its generation", operator_lag),
        Row.of("reference: Deployment done → `kubectl rollout status` exited", kubectl_lag),
        Row.of("operator: Rollout spec edit → Ready=True (whole rollout)", spec_to_ready),
    ]
    r2.notes.append(
        "'Deployment done' is the first watch event on which kubectl's success condition holds "
        "for the new pod template. `kubectl rollout status` is started the moment the "
        "Deployment's pod template is seen changed (what a CI script does after "
        "`kubectl set image`); both then wait for the same rollout (1 replica)."
    )


# 3: config-change restart ----------
def restart(bench: Bench, operator: Operator, result: ScenarioResult) -> Operator:  # noqa: PLR0915
    """Default debounce with `operator`, then a new operator with --restart-debounce 0.

    Returns the operator left running."""
    api = bench.api
    assert api is not None
    ns = "bench-restart"
    bench.namespaces(ns)
    api.create_many(
        [
            (o.configmaps_path(ns), o.configmap(ns, "target-config")),
            (o.deployments_path(ns), o.deployment(ns, "target", "v0")),
            (o.deployments_path(ns), o.deployment(ns, "reference", "v0")),
            (o.rollouts_path(ns), o.rollout(ns, "target", "target", configmaps=["target-config"])),
        ]
    )
    deployments = bench.watch(o.deployments_path(ns))
    rollouts = bench.watch(o.rollouts_path(ns))
    env = bench.cluster.env()
    cm_path = f"{o.configmaps_path(ns)}/target-config"
    kubectl_samples: list[float] = []
    kubectl_exit: list[float] = []
    last_kubectl_restart = 0.0

    for label, args in (("1.0 (default)", ()), ("0", ("--restart-debounce", "0"))):
        if args:
            operator.stop()
            operator = bench.operator(*args, name="debounce-0")
        rollouts.wait_object(ns, "target", o.rollout_ready, what="initial Rollout Ready")
        deployments.wait_object(ns, "target", o.deployment_done)
        deployments.wait_object(ns, "reference", o.deployment_done)
        operator.wait_idle(0)
        samples = []
        before = operator.metrics()
        for rep in range(bench.sizes.reps + 1):  # rep 0 warms up
            record = rep > 0
            target = deployments.current(ns, "target") or {}
            previous = o.template_annotation(target, o.RESTART_ANNOTATION)
            previous_hash = ((rollouts.current(ns, "target") or {}).get("status") or {}).get(
                "configHash"
            )
            since_d, since_r = deployments.mark(), rollouts.mark()
            t0 = time.monotonic()
            api.patch(cm_path, {"data": {"config.txt": f"{label} {rep} {uuid.uuid4()}"}})
            t_template = deployments.wait(
                _event(
                    ns,
                    "target",
                    lambda d, p=previous: o.template_annotation(d, o.RESTART_ANNOTATION) != p,
                ),
                since_d,
                what="operator restart of the Deployment",
            )[0]
            rollouts.wait(
                _event(
                    ns,
                    "target",
                    lambda r, h=previous_hash: (
                        o.rollout_ready(r) and (r.get("status") or {}).get("configHash") != h
                    ),
                ),
                since_r,
                what="Rollout Ready after the restart",
            )
            deployments.wait_object(ns, "target", o.deployment_done)
            if record:
                samples.append(t_template - t0)

            # Reference: `kubectl rollout restart` issued at the edit. Its annotation has a
            # resolution of one second: never two restarts within the same second.
            wait = last_kubectl_restart + 1.1 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            reference = deployments.current(ns, "reference") or {}
            previous = o.template_annotation(reference, o.KUBECTL_RESTART_ANNOTATION)
            since_d = deployments.mark()
            command = Background(
                bench.kubectl("rollout", "restart", "deployment/reference", "-n", ns), env
            )
            t_template = deployments.wait(
                _event(
                    ns,
                    "reference",
                    lambda d, p=previous: (
                        o.template_annotation(d, o.KUBECTL_RESTART_ANNOTATION) != p
                    ),
                ),
                since_d,
                what="kubectl rollout restart",
            )[0]
            t_exit = command.join()
            last_kubectl_restart = command.started
            deployments.wait_object(ns, "reference", o.deployment_done)
            if record:
                kubectl_samples.append(t_template - command.started)
                kubectl_exit.append(t_exit - command.started)
        requests = _operator_requests(before, operator.metrics())
        result.rows.append(
            Row.of(
                f"operator, --restart-debounce {label}: ConfigMap edit → pod template restarted",
                samples,
            )
        )
        result.rows.append(
            Row.single(
                f"operator, --restart-debounce {label}: workload patches per edit",
                requests.get("patch deployments 2xx", 0) / (bench.sizes.reps + 1),
                "count",
                bench.sizes.reps + 1,
            )
        )
        result.extra[f"operator_requests_debounce_{label.split()[0]}"] = requests
    result.rows += [
        Row.of(
            "reference: `kubectl rollout restart` launched → pod template restarted",
            kubectl_samples,
        ),
        Row.of("reference: `kubectl rollout restart` (subprocess round trip)", kubectl_exit),
    ]
    result.notes.append(
        "The operator is timed from our ConfigMap PATCH being sent to the Deployment's watch "
        "event with the new rollout-operator.dev/restart annotation; kubectl from its launch "
        "to the watch event with the new kubectl.kubernetes.io/restartedAt. The reference "
        "runs alternate with the operator runs (one at a time), pooled over both operator "
        "runs. Stakater Reloader could not be built here (the Go module proxy answers 403 for "
        "github.com/stakater/Reloader), hence the bare kubectl reference."
    )
    return operator


# 4: scale ----------
def scale(bench: Bench, result: ScenarioResult) -> Operator:
    api = bench.api
    assert api is not None
    n, spaces = bench.sizes.scale_rollouts, bench.sizes.namespaces
    names = [f"bench-scale-{i:02d}" for i in range(spaces)]
    bench.namespaces(*names)
    workloads = [(names[i % spaces], f"w{i:04d}") for i in range(n)]
    t = time.monotonic()
    api.create_many(
        [(o.deployments_path(ns), o.deployment(ns, name, "v1")) for ns, name in workloads]
    )
    _wait_all_deployments(bench, n, f"{o.BENCH_LABEL}=workload", timeout=1800)
    result.notes.append(
        f"Setup (not measured): {n} Deployments created and rolled out in "
        f"{time.monotonic() - t:.0f} s."
    )

    # Reference: the same N image changes as direct PATCHes, no operator running.
    reference = ReadyTracker(
        lambda d: o.container_image(d) == o.image("v1b") and o.deployment_done(d), n
    )
    bench.watch(o.deployments_path(), f"{o.BENCH_LABEL}=workload", reference.on_event)
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": o.CONTAINER, "image": o.image("v1b")}]}}
        }
    }
    t0 = t_reference_start = time.monotonic()
    t_sent = max(
        api.patch_many([(f"{o.deployments_path(ns)}/{name}", patch) for ns, name in workloads])
    )
    t_reference = reference.wait(1800, "Deployments rolled out (reference)") - t0

    operator = bench.operator(name="scale")
    operator.wait_idle(0)
    rolled_out = ReadyTracker(
        lambda d: o.container_image(d) == o.image("v2") and o.deployment_done(d), n
    )
    patched = ReadyTracker(lambda d: o.container_image(d) == o.image("v2"), n)

    def on_deployment(event: WatchEvent) -> None:
        patched.on_event(event)
        rolled_out.on_event(event)

    bench.watch(o.deployments_path(), f"{o.BENCH_LABEL}=workload", on_deployment)
    tracker = ReadyTracker(o.rollout_ready, n)
    bench.watch(o.rollouts_path(), f"{o.BENCH_LABEL}=rollout", tracker.on_event)
    metrics0, cpu0, api0 = operator.metrics(), operator.cpu_seconds(), bench.apiserver_requests()
    t0 = time.monotonic()
    created = api.create_many(
        [(o.rollouts_path(ns), o.rollout(ns, name, name, tag="v2")) for ns, name in workloads],
        workers=8,
    )
    t_created = max(t for t, _ in created)
    t_all = tracker.wait(1800, "Rollouts Ready")
    t_all_deployments = rolled_out.wait(60, "Deployments rolled out")
    t_all_patched = patched.wait(60, "Deployments patched")
    cpu1 = operator.cpu_seconds()
    operator.wait_idle(n, settle=2.0)
    metrics1, api1, memory = operator.metrics(), bench.apiserver_requests(), operator.memory()

    per_rollout = [
        tracker.first[(b["metadata"]["namespace"], b["metadata"]["name"])] - t for t, b in created
    ]
    requests = _operator_requests(metrics0, metrics1)
    apiserver = _apiserver_writes(delta(api1, api0))
    apiserver_gets = total(
        delta(api1, api0), APISERVER_REQUESTS, verb="GET", resource="deployments", subresource=""
    )
    result.rows += [
        Row.single("operator: first Rollout create → all Rollouts Ready", t_all - t0, "s", n),
        Row.single(
            "operator: first Rollout create → all Deployments rolled out",
            t_all_deployments - t0,
            "s",
            n,
        ),
        Row.single(
            "operator: first Rollout create → all Deployments' templates patched",
            t_all_patched - t0,
            "s",
            n,
        ),
        Row.single(
            f"reference: {n} direct PATCHes (8 threads) → all Deployments rolled out",
            t_reference,
            "s",
            n,
        ),
        Row.single(f"reference: sending the {n} PATCHes", t_sent - t_reference_start, "s", n),
        Row.single(f"creating the {n} Rollouts (8 client threads)", t_created - t0, "s", n),
        Row.of("per Rollout: created → Ready=True", per_rollout),
        Row.single("operator CPU, first create → all Ready", cpu1 - cpu0, "cpu-s", n),
        Row.single("operator CPU per Rollout", (cpu1 - cpu0) / n * 1000, "ms CPU", n),
        Row.single("operator peak RSS (VmHWM)", memory["VmHWM"], "bytes"),
    ]
    for key, value in requests.items():
        result.rows.append(
            Row.single(f"operator requests per Rollout: {key}", value / n, "count", n)
        )
    result.rows.append(
        Row.single("operator requests per Rollout: all", sum(requests.values()) / n, "count", n)
    )
    result.rows += [
        Row.single(
            "workload writes per change (operator: patch deployments 2xx)",
            requests.get("patch deployments 2xx", 0) / n,
            "count",
            n,
        ),
        Row.single(
            "workload writes per change (apiserver: PATCH deployments)",
            apiserver.get("PATCH deployments", 0) / n,
            "count",
            n,
        ),
        Row.single(
            "apiserver: PATCH rollouts/status per Rollout",
            apiserver.get("PATCH rollouts/status", 0) / n,
            "count",
            n,
        ),
        Row.single("apiserver: GET deployments per Rollout", apiserver_gets / n, "count", n),
        Row.single(
            "apiserver: POST events per Rollout (incl. controller-manager's)",
            apiserver.get("POST events", 0) / n,
            "count",
            n,
        ),
    ]
    result.notes.append(
        "Apiserver cross-check: deltas of apiserver_request_total over the window. PATCH of "
        "deployments and rollouts/status and GET of single deployments come only from the "
        "operator here (the controller-manager uses PUT and informers, the benchmark only "
        "creates Rollouts); POST events also counts the controller-manager's ReplicaSet events."
    )
    result.extra.update(
        operator_requests=requests, apiserver_writes=apiserver, nodes=bench.cluster.nodes
    )
    return operator


# 5: quiet cost ----------
def quiet(bench: Bench, result: ScenarioResult) -> None:
    api = bench.api
    assert api is not None
    sizes = bench.sizes
    names = [f"bench-quiet-{i:02d}" for i in range(sizes.namespaces)]
    bench.namespaces(*names)
    t = time.monotonic()
    items: list[tuple[str, dict[str, Any]]] = []
    for i in range(sizes.unmanaged):
        ns = names[i % len(names)]
        items.append(
            (
                o.deployments_path(ns),
                o.deployment(ns, f"u{i:05d}", "v1", replicas=0, role="unmanaged"),
            )
        )
        items.append(
            (
                o.configmaps_path(ns),
                o.configmap(ns, f"u{i:05d}", sizes.unmanaged_configmap_bytes, role="unmanaged"),
            )
        )
    managed = [(names[i % len(names)], f"m{i:03d}") for i in range(sizes.quiet_rollouts)]
    for ns, name in managed:
        items.append((o.configmaps_path(ns), o.configmap(ns, name)))
        items.append((o.deployments_path(ns), o.deployment(ns, name, "v1")))
    api.create_many(items, workers=8)
    _wait_all_deployments(
        bench,
        sizes.unmanaged + sizes.quiet_rollouts,
        f"{o.BENCH_LABEL} in (unmanaged,workload)",
        timeout=1800,
    )
    api.create_many(
        [
            (o.rollouts_path(ns), o.rollout(ns, name, name, tag="v1", configmaps=[name]))
            for ns, name in managed
        ]
    )
    result.notes.append(
        f"Setup (not measured): {len(items)} objects created and settled in "
        f"{time.monotonic() - t:.0f} s."
    )

    # Baseline: the same window without the operator (kwok heartbeats, leases...).
    time.sleep(5)
    base0 = bench.apiserver_requests()
    time.sleep(sizes.idle_seconds)
    baseline = _apiserver_writes(delta(bench.apiserver_requests(), base0))

    tracker = ReadyTracker(o.rollout_ready, sizes.quiet_rollouts)
    bench.watch(o.rollouts_path(), f"{o.BENCH_LABEL}=rollout", tracker.on_event)
    operator = bench.operator(name="quiet")
    t_start = operator.started_at
    t_ready = tracker.wait(900, "Rollouts Ready")
    t_drained = operator.wait_idle(sizes.quiet_rollouts, settle=2.0)
    startup_memory = operator.memory()
    time.sleep(5)

    metrics0, api0 = operator.metrics(), bench.apiserver_requests()
    with _sampling(operator) as samples:
        time.sleep(sizes.idle_seconds)
    metrics1, api1, memory = operator.metrics(), bench.apiserver_requests(), operator.memory()
    minutes = (samples[-1][0] - samples[0][0]) / 60
    cpu_percent = [
        100 * (c1 - c0) / (t1 - t0) for (t0, c0, _), (t1, c1, _) in itertools.pairwise(samples)
    ]
    requests = _operator_requests(metrics0, metrics1)
    idle = _apiserver_writes(delta(api1, api0))
    ours = ("PATCH deployments", "PATCH rollouts/status", "PATCH rollouts", "POST events")
    base_minutes = sizes.idle_seconds / 60
    result.rows += [
        Row.of("operator CPU while idle (per 1 s sample)", cpu_percent, "%"),
        Row.single(
            "operator CPU while idle, whole window",
            samples[-1][1] - samples[0][1],
            "cpu-s",
            1,
            f"{sizes.idle_seconds:g} s",
        ),
        Row.of("operator RSS while idle (per 1 s sample)", [s[2] for s in samples], "bytes"),
        Row.single("operator peak RSS (VmHWM, incl. startup)", memory["VmHWM"], "bytes"),
        Row.single(
            "operator writes per minute while idle (own metrics)",
            _operator_writes(requests) / minutes,
            "per-min",
        ),
        Row.single(
            "apiserver writes/min on the operator's kinds while idle "
            "(PATCH deployments, rollouts; POST events)",
            sum(idle.get(k, 0) for k in ours) / minutes,
            "per-min",
        ),
        Row.single(
            "  same, baseline window without the operator",
            sum(baseline.get(k, 0) for k in ours) / base_minutes,
            "per-min",
        ),
        Row.single(
            "apiserver writes/min, all clients, while idle", sum(idle.values()) / minutes, "per-min"
        ),
        Row.single(
            "  same, baseline window without the operator",
            sum(baseline.values()) / base_minutes,
            "per-min",
        ),
        Row.single(
            "startup with the unmanaged objects: start → all Rollouts Ready",
            t_ready - t_start,
            "s",
            sizes.quiet_rollouts,
        ),
        Row.single(
            "startup with the unmanaged objects: start → queue drained",
            t_drained - t_start,
            "s",
            sizes.quiet_rollouts,
        ),
        Row.single("operator RSS after startup", startup_memory["VmRSS"], "bytes"),
    ]
    result.notes.append(
        "Stakater Reloader could not be built here (the Go module proxy answers 403 for "
        "github.com/stakater/Reloader), so there is no Reloader column."
    )
    result.extra.update(
        operator_requests_idle=requests,
        apiserver_writes_idle=idle,
        apiserver_writes_baseline=baseline,
    )


# 6: startup ----------
def startup(bench: Bench, operator: Operator, result: ScenarioResult) -> None:
    n = bench.sizes.scale_rollouts
    to_health, to_drained, cpu, gets, status_writes, apiserver_status, apiserver_patches = (
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    reconciles, peak = [], []
    for _ in range(bench.sizes.startup_reps):
        operator.stop()
        time.sleep(1)
        api0 = bench.apiserver_requests()
        operator = bench.operator(name="startup")  # returns once /healthz answers
        t_health = time.monotonic()
        t_drained = operator.wait_idle(n, settle=3.0)
        metrics = operator.metrics()
        change = delta(bench.apiserver_requests(), api0)
        requests = _operator_requests({}, metrics)
        to_health.append(t_health - operator.started_at)
        to_drained.append(t_drained - operator.started_at)
        cpu.append(operator.cpu_seconds())
        peak.append(operator.memory()["VmHWM"])
        gets.append(sum(v for k, v in requests.items() if k.startswith("get ")))
        status_writes.append(requests.get("patch rollouts/status 2xx", 0))
        reconciles.append(total(metrics, "rollout_operator_reconciles_total"))
        apiserver_status.append(
            total(change, APISERVER_REQUESTS, verb="PATCH", resource="rollouts")
        )
        apiserver_patches.append(
            total(change, APISERVER_REQUESTS, verb="PATCH", resource="deployments")
        )
    result.rows += [
        Row.of("process start → /healthz 200", to_health),
        Row.of(f"process start → all {n} Rollouts reconciled, queue empty", to_drained),
        Row.of("operator CPU, process start → drained (+3 s)", cpu, "cpu-s"),
        Row.of("operator peak RSS (VmHWM)", peak, "bytes"),
        Row.of("reconciles per start", reconciles, "count"),
        Row.of("operator GETs per start (cache misses)", gets, "count"),
        Row.of("status writes per start (own metrics)", status_writes, "count"),
        Row.of("apiserver PATCH rollouts per start", apiserver_status, "count"),
        Row.of("apiserver PATCH deployments per start", apiserver_patches, "count"),
    ]
    result.notes.append(
        "Definition: from spawning `python -m rollout_operator run` until "
        "rollout_operator_queue_depth is 0, rollout_operator_reconciles_total ≥ N and the "
        "reconcile count stayed unchanged for 3 s (metrics polled every 0.1 s; the time "
        "reported is when the count last moved). All Rollouts were already Succeeded "
        "(scenario 4), so a correct start writes nothing."
    )
