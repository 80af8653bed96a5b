"""Fault injection for the end-to-end tests, and the bookkeeping that judges the outcome.

Faults, on the local kwok cluster (tests/cluster/cluster.sh, binary runtime):
- `LocalCluster` stops and starts single control-plane processes (kube-apiserver, etcd):
  kwokctl can only stop the whole cluster, so the component is signalled and started again
  from the command line kwokctl recorded in its workdir (`kwok.yaml`). It also writes to and
  compacts etcd through etcd's HTTP gateway (no etcdctl needed).
- `kill9`, `frozen`: SIGKILL and SIGSTOP/SIGCONT of an operator process. A frozen operator
  keeps its watch connections but reads nothing: whatever happens meanwhile reaches it only
  through what the apiserver still has when it wakes up.

Judgement: a `Fleet` of Deployments, each with a Rollout and a ConfigMap the Rollout restarts
on, takes requests (new image tag, new spec.restartedAt, new ConfigMap content) with a
unique value each, so that every template the Deployment ever had is recognisable. A
`TemplateRecorder` watches the Deployments and keeps every generation it sees. After the
fleet settles, each Rollout counts as
- lost: a requested image or restart is not in the pod template;
- duplicated: more template changes than requested, or a change back to an earlier image or
  restart value (a write from stale state);
- wrong status: the Rollout's status contradicts the workload.
`FaultReport` collects one row per scenario and prints the table at the end of the session
(and writes it to .venv/e2e-logs/faults-report.txt). Times are reported, never asserted.

Environment (for longer local runs; the defaults keep `make test` to a few minutes):
  E2E_FAULT_ROUNDS=N            rounds of every scenario (default: 1 to 5, per scenario)
  E2E_FAULT_SEED=N              repeat a run's random choices (each scenario prints its seed)
  E2E_FAULT_APISERVER_DOWN=20   seconds kube-apiserver stays down in a restart round
  E2E_FAULT_ETCD_DOWN=10        seconds etcd stays down
  E2E_FAULT_LEASE_DURATION=5    --lease-duration of the HA pair
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch

from rollout_operator.confighash import combined_hash, content_hash

from .kube import Kubectl, Observed, make_deployment, wait_for
from .operator_process import LOG_DIR, OperatorProcess
from .rollouts import GROUP, PLURAL, VERSION, make_rollout

RESTART_ANNOTATION = "rollout-operator.dev/restart"
IMAGE_REPO = "registry.local/e2e/app"
CONTAINER = "app"
CLUSTER_NAME = "rollout-operator"  # as tests/cluster/cluster.sh names it


def rounds(default: int) -> int:
    """Rounds per scenario: E2E_FAULT_ROUNDS (for longer local runs), else `default`."""
    return max(1, int(os.environ.get("E2E_FAULT_ROUNDS") or default))


class SeededRandom(random.Random):
    """A random source that remembers its seed (for the report: rerun with E2E_FAULT_SEED)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.seed_value = seed


def seeded_random(scenario: str) -> SeededRandom:
    """A random source that E2E_FAULT_SEED makes repeatable; the seed goes to the report."""
    seed = int(os.environ.get("E2E_FAULT_SEED") or random.randrange(1 << 30))
    print(f"{scenario}: E2E_FAULT_SEED={seed}")
    return SeededRandom(seed)


# Control-plane processes ---------------------------------------------------------------
@dataclass(frozen=True)
class Component:
    """One process of the cluster as kwokctl runs it."""

    name: str
    binary: str
    args: tuple[str, ...]
    workdir: Path

    @property
    def pid_file(self) -> Path:
        return self.workdir / "pids" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.workdir / "logs" / f"{self.name}.log"


def _alive(pid: int) -> bool:
    """Running (a zombie is not: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class LocalCluster:
    """Stops and starts kube-apiserver and etcd of the kwok cluster, and talks to etcd."""

    def __init__(self, workdir: Path, kubectl: Kubectl) -> None:
        self.workdir = workdir
        self.kubectl = kubectl
        documents = yaml.safe_load_all((workdir / "kwok.yaml").read_text())
        config = next(d for d in documents if d and d.get("kind") == "KwokctlConfiguration")
        self.components = {
            c["name"]: Component(c["name"], c["binary"], tuple(c.get("args") or ()), workdir)
            for c in config["components"]
        }
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @classmethod
    def of(cls, kubeconfig: Path, kubectl: Kubectl) -> LocalCluster | None:
        """The cluster cluster.sh made with this kubeconfig; None for any other cluster."""
        workdir = kubeconfig.parent / "kwok" / "clusters" / CLUSTER_NAME
        if not (workdir / "kwok.yaml").is_file():
            return None
        return cls(workdir, kubectl)

    def pids(self, name: str) -> list[int]:
        """Live processes running this component's binary (pid files may be stale)."""
        binary = self.components[name].binary.encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
            except OSError:
                continue
            if argv0 == binary and _alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    def running(self, name: str) -> bool:
        return bool(self.pids(name))

    def stop(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the component and wait until it is gone."""
        pids = self.pids(name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        for pid in pids:
            child = self._children.pop(pid, None)
            if child is not None:
                child.wait(timeout=60)
        # By pid, not by command line: an exiting process loses its command line before it
        # closes its sockets.
        wait_for(lambda: not any(map(_alive, pids)), timeout=60, what=f"{name} to exit")

    def _ports_free(self, name: str) -> bool:
        for arg in self.components[name].args:
            flag, _, value = arg.partition("=")
            if flag in ("--secure-port", "--listen-client-urls", "--listen-peer-urls"):
                port = int(value.rsplit(":", 1)[-1])
                with socket.socket() as probe:
                    # As the components listen: closing connections do not hold the port.
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        probe.bind(("127.0.0.1", port))
                    except OSError:
                        return False
        return True

    def start(self, name: str) -> None:
        """Start the component again as kwokctl did: same binary, arguments, workdir, log."""
        if self.running(name):
            return
        component = self.components[name]
        wait_for(lambda: self._ports_free(name), timeout=60, what=f"{name}'s ports free")
        with component.log_file.open("ab") as log:
            process = subprocess.Popen(
                [component.binary, *component.args],
                cwd=component.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # part of the cluster, not of this test process
            )
        self._children[process.pid] = process
        component.pid_file.write_text(str(process.pid))

    # Readiness -------------------------------------------------------------------------
    def apiserver_ready(self) -> bool:
        result = self.kubectl("get", "--raw", "/readyz", "--request-timeout=3s", timeout=10)
        return result.returncode == 0 and result.stdout.strip() == "ok"

    def wait_apiserver_ready(self, timeout: float = 300) -> None:
        """Wait for /readyz; fail at once when a component we started has exited."""
        deadline = time.monotonic() + timeout
        while not self.apiserver_ready():
            for child in self._children.values():
                if child.poll() is not None:
                    log = Path(child.args[0]).name  # type: ignore[index]
                    raise AssertionError(
                        f"{log} exited {child.returncode}; see {self.workdir}/logs"
                    )
            assert time.monotonic() < deadline, f"kube-apiserver not ready after {timeout:g}s"
            time.sleep(0.2)

    def restore(self) -> None:
        """etcd and kube-apiserver running and ready (after a test, whatever happened)."""
        for name in ("etcd", "kube-apiserver"):
            self.start(name)
        self.wait_apiserver_ready()

    # etcd ------------------------------------------------------------------------------
    @property
    def etcd_url(self) -> str:
        for arg in self.components["etcd"].args:
            if arg.startswith("--advertise-client-urls="):
                return arg.split("=", 1)[1].split(",")[0]
        raise AssertionError("etcd has no --advertise-client-urls in kwok.yaml")

    def _etcd(self, method: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.etcd_url}/v3/{method}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def etcd_revision(self) -> int:
        answer = self._etcd("kv/range", {"key": _b64("/rollout-operator-e2e/none")})
        return int(answer["header"]["revision"])

    def etcd_tick(self, times: int = 1) -> int:
        """Advance etcd's revision (a key outside the apiserver's /registry prefix)."""
        for n in range(times):
            self._etcd("kv/put", {"key": _b64("/rollout-operator-e2e/tick"), "value": _b64(n)})
        return self.etcd_revision()

    def etcd_compact(self) -> int:
        """Compact etcd up to its current revision: older versions are gone for good."""
        revision = self.etcd_revision()
        self._etcd("kv/compaction", {"revision": revision, "physical": True})
        return revision


def _b64(value: object) -> str:
    return base64.b64encode(str(value).encode()).decode()


# The operator under test -------------------------------------------------------------
def kill9(operator: OperatorProcess) -> None:
    """SIGKILL: no cleanup, no Lease release, whatever was in flight is cut."""
    assert operator.process is not None
    operator.process.kill()
    operator.process.wait()


@contextlib.contextmanager
def frozen(operator: OperatorProcess) -> Iterator[None]:
    """SIGSTOP the operator for the block: it holds its connections but reads nothing."""
    assert operator.process is not None
    operator.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        if operator.process.poll() is None:
            operator.process.send_signal(signal.SIGCONT)


def probe(operator: OperatorProcess, path: str = "/readyz") -> int:
    """HTTP status of one of the operator's health endpoints (0: no answer)."""
    url = f"http://127.0.0.1:{operator.health_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


class ReadinessLog:
    """Polls /readyz in a thread; `unready_after(t0)`: when it first failed after t0."""

    def __init__(self, operator: OperatorProcess) -> None:
        self.operator = operator
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="readyz", daemon=True)

    def __enter__(self) -> ReadinessLog:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.samples.append((time.monotonic(), probe(self.operator)))

    def unready_after(self, start: float, end: float) -> float | None:
        """Seconds from `start` to the first failed /readyz before `end` (None: never)."""
        for at, code in self.samples:
            if start <= at <= end and code != 200:
                return at - start
        return None


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        metric_name, _, label_text = sample.partition("{")
        if metric_name != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


# Fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exclusive(operator: OperatorProcess) -> Iterator[None]:
    """The session's operator is stopped for the module's tests (two acting operators
    would both write) and started again afterwards."""
    operator.stop()
    try:
        yield
    finally:
        operator.start()


@pytest.fixture
def local_cluster(exclusive: None, kubeconfig: Path, kubectl: Kubectl) -> Iterator[LocalCluster]:
    """Control over the local cluster's processes; etcd and kube-apiserver run again after
    the test whatever happened. Skips on a cluster other than tests/cluster/cluster.sh's."""
    cluster = LocalCluster.of(kubeconfig, kubectl)
    if cluster is None:
        pytest.skip("fault injection needs the local kwok cluster (tests/cluster/cluster.sh)")
    try:
        yield cluster
    finally:
        cluster.restore()


OperatorFactory = Callable[..., OperatorProcess]


@pytest.fixture
def operators(local_cluster: LocalCluster, operator_kubeconfig: Path) -> Iterator[OperatorFactory]:
    """``operators(name, *args)``: an operator process (not started) that is thawed and
    stopped after the test, before the cluster is restored."""
    made: list[OperatorProcess] = []

    def make(name: str, *args: str) -> OperatorProcess:
        process = OperatorProcess(operator_kubeconfig, list(args), name=name)
        made.append(process)
        return process

    try:
        yield make
    finally:
        for process in made:
            if process.process is not None and process.process.poll() is None:
                process.process.send_signal(signal.SIGCONT)
            process.stop()


# Report ------------------------------------------------------------------------------
@dataclass
class Row:
    """One scenario's outcome."""

    scenario: str
    rounds: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong_status: int = 0
    #: Measured, reported, never asserted: e.g. {"failover s": "6.1, 5.8"}.
    notes: dict[str, str] = field(default_factory=dict)
    #: The evidence behind non-zero counts (written to the report file).
    details: list[str] = field(default_factory=list)


class FaultReport:
    """Collects rows; a pytest plugin that prints them in the terminal summary."""

    HEADER = ("scenario", "rounds", "lost", "duplicated", "wrong status", "measured")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[Row] = []

    def add(self, row: Row) -> None:
        self.rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        evidence = [f"{r.scenario}: {d}" for r in self.rows for d in r.details]
        self.path.write_text("\n".join([self.table(), "", *evidence]) + "\n")

    def table(self) -> str:
        lines = [
            (
                r.scenario,
                str(r.rounds),
                str(r.lost),
                str(r.duplicated),
                str(r.wrong_status),
                "; ".join(f"{k}: {v}" for k, v in r.notes.items()),
            )
            for r in self.rows
        ]
        widths = [max(len(x) for x in column) for column in zip(self.HEADER, *lines, strict=False)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in [self.HEADER, *lines]
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.rows:
            terminalreporter.write_sep("=", "fault injection (counts must all be 0)")
            terminalreporter.write_line(self.table())
            terminalreporter.write_line(f"(also in {self.path})")


@pytest.fixture(scope="session")
def fault_report(request: pytest.FixtureRequest) -> FaultReport:
    report = FaultReport(LOG_DIR / "faults-report.txt")
    request.config.pluginmanager.register(report, "rollout-operator-fault-report")
    return report


def seconds(values: list[float]) -> str:
    """`min-max (n)` of measured durations, for the report."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{min(values):.1f}-{max(values):.1f} (n={len(values)})"


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
    #: What was seen, for the failure message.
    seen: str = ""

    @property
    def ok(self) -> bool:
        return not self.lost and not self.wrong


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
        """Every Rollout Succeeded on its unchanged Deployment: the baseline of round 1."""
        self.begin_round()
        _, verdicts = self.settle(timeout)
        bad = {name: v for name, v in verdicts.items() if not v.ok}
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
        if succeeded and images.get(CONTAINER) != template.image:
            verdict.wrong.append(f"status image {images.get(CONTAINER)}, runs {template.image}")
        trigger = status.get("restartTrigger") or None
        # Before the first restart the trigger is the baseline adopted, not in the template.
        if succeeded and template.restart is not None and trigger != template.restart:
            verdict.wrong.append(
                f"status restartTrigger {status.get('restartTrigger')!r}, template {restart!r}"
            )
        if not verdict.ok:
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
        """Wait until every target is right (or the timeout); seconds taken and verdicts."""
        start = time.monotonic()
        last: dict[str, Verdict] = {}

        def all_right() -> Observed:
            nonlocal last
            last = self.verdicts()
            bad = {n: v for n, v in last.items() if not v.ok}
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
