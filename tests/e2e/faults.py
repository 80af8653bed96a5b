"""Fault injection for the end-to-end tests: the faults, the fixtures, the report.

Faults, on the local kwok cluster (tests/cluster/cluster.sh, binary runtime):
- `LocalCluster` stops and starts single control-plane processes (kube-apiserver, etcd):
  kwokctl can only stop the whole cluster, so the component is signalled and started again
  from the command line kwokctl recorded in its workdir (`kwok.yaml`). It also writes to and
  compacts etcd through etcd's HTTP gateway (no etcdctl needed).
- `kill9`, `frozen`: SIGKILL and SIGSTOP/SIGCONT of an operator process. A frozen operator
  keeps its watch connections but reads nothing: whatever happens meanwhile reaches it only
  through what the apiserver still has when it wakes up.

How the outcome is judged: faults_fleet.py.
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
import struct
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

from .kube import Kubectl, Observed, wait_for
from .operator_process import LOG_DIR, OperatorProcess

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
    """Running, or still exiting. A zombie whose threads are all gone is not alive: its
    sockets are closed, it only waits to be reaped. (The leader of a killed Go process is
    a zombie while its other threads still exit and hold the sockets.)"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z" or threads > 1


def _listener(port: int) -> str:
    """Who listens on 127.0.0.1:`port` ("pid command"), for error messages."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                command = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
                return f"pid {entry.name} {command}"
        except OSError:
            continue
    return "nobody (yet)"


class PortGuard:
    """Holds a stopped component's port so that nothing else takes it meanwhile.

    On a shared machine every kwok cluster gets ports that were free when it was made,
    so a cluster made while our kube-apiserver is down could take its port. The guard
    listens on it and resets every connection at once: clients see the component as
    down (connection reset instead of refused).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen(64)
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"port {port}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            # Close with RST, as a port nobody listens on would answer.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


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
        self._guards: dict[str, list[PortGuard]] = {}

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
        self._guard(name)

    def _guard(self, name: str) -> None:
        guards: list[PortGuard] = []

        def guarded() -> bool:
            for port in self._ports(name):
                if port not in {g.port for g in guards}:
                    with contextlib.suppress(OSError):
                        guards.append(PortGuard(port))
            return len(guards) == len(self._ports(name))

        try:
            wait_for(guarded, timeout=30, interval=0.1, what=f"{name}'s ports to hold")
        finally:
            self._guards[name] = guards

    def _ports(self, name: str) -> list[int]:
        flags = ("--secure-port", "--listen-client-urls", "--listen-peer-urls")
        return [
            int(arg.partition("=")[2].rsplit(":", 1)[-1])
            for arg in self.components[name].args
            if arg.partition("=")[0] in flags
        ]

    def _taken(self, name: str) -> dict[int, str]:
        """The component's ports that something listens on, and who."""
        taken = {}
        for port in self._ports(name):
            with socket.socket() as probe:
                # As the components listen: closing connections do not hold the port.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    taken[port] = _listener(port)
        return taken

    def start(self, name: str) -> None:
        """Start the component again as kwokctl did: same binary, arguments, workdir, log."""
        if self.running(name):
            return
        component = self.components[name]
        for guard in self._guards.pop(name, []):
            guard.release()
        # On a shared machine another cluster may take a port while the component is down
        # (kwokctl picks free ports): the message then names the process that has it.
        wait_for(
            lambda: Observed(not self._taken(name), self._taken(name)),
            timeout=60,
            what=f"{name}'s ports free",
        )
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
