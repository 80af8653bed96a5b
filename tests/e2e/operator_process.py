"""The operator under test, run as users run it: `rollout-operator run` in its own process.

Tests talk to it only through the API server (and its metrics/health ports on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .kube import Kubectl, wait_for

REPO = Path(__file__).resolve().parents[2]
#: Kinds of the shipped manifests that the tests leave out: the operator runs as a local
#: process (with the manifests' ServiceAccount token) instead of as a pod.
NOT_APPLIED = {"Deployment", "Service", "PodDisruptionBudget"}

#: Operator logs, the operator's kubeconfig and reports: one directory per session, so
#: that two sessions at once (CI runs `make test-compat` beside `make test`) never read
#: each other's files.
LOG_DIR = Path(os.environ.get("E2E_LOG_DIR") or REPO / ".venv" / "e2e-logs")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Flags the e2e tests add to every operator: several quick edits coalesce into one restart.
#: The benchmarks pass `defaults=()` to measure the shipped defaults.
E2E_DEFAULTS = ("--restart-debounce", "1.5")  # wide enough for kubectl on a loaded CI machine


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process in bytes, from /proc/<pid>/status."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


def metric(text: str, name: str, /, **labels: str) -> float:
    """Sum of the samples called `name` in a /metrics text whose labels include `labels`
    (0 when none)."""
    return float(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )
    )


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGINT (a graceful stop), then SIGKILL after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class OperatorProcess:
    """Start/stop one `rollout-operator run` against a kubeconfig; logs go to a file.

    Shared with the benchmarks, which also read its CPU time and memory from /proc.
    """

    def __init__(self, kubeconfig: Path, args: Sequence[str] = (), name: str = "operator",
                 env: dict[str, str] | None = None, *, log_dir: Path = LOG_DIR,
                 defaults: Sequence[str] = E2E_DEFAULTS,
                 module: str = "rollout_operator") -> None:  # fmt: skip
        self.kubeconfig = kubeconfig
        self.args = [*defaults, *args]
        self.metrics_port = free_port()
        self.health_port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.module = module
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", self.module, "run",
            "--bind-address", "127.0.0.1",
            "--metrics-port", str(self.metrics_port),
            "--health-port", str(self.health_port),
            *self.args,
        ]  # fmt: skip

    def start(self, *, wait: bool = True, timeout: float = 60) -> float:
        """Spawn it (and wait until healthy); returns the monotonic time of the spawn."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            # As the manifests set them from the downward API: who and where we are.
            "POD_NAME": self.log_path.stem,
            "POD_NAMESPACE": "rollout-operator-system",
            **(self.env or {}),
        }
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(self.command())}\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env
            )
        if wait:
            wait_for(self.healthy, timeout=timeout, interval=0.05,
                     what=f"operator health (log: {self.log_path})")  # fmt: skip
        return self.started_at

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited {self.process.returncode}; see {self.log_path}")
        try:
            url = f"http://127.0.0.1:{self.health_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text: str = response.read().decode()
            return text

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        return process_memory(self.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def render_manifests(kubectl: Kubectl, overlay: str) -> list[dict[str, Any]]:
    """`kubectl kustomize` one of manifests/, as a list of objects."""
    result = kubectl("kustomize", str(REPO / overlay))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def install(kubectl: Kubectl, objects: Sequence[Mapping[str, Any]]) -> None:
    """Server-side apply `objects` (RBAC, CRDs, ServiceAccount...), skipping NOT_APPLIED."""
    items = [dict(o) for o in objects if o["kind"] not in NOT_APPLIED]
    crds = [o for o in items if o["kind"] == "CustomResourceDefinition"]
    for batch in (crds, [o for o in items if o not in crds]):  # CRDs first, then their objects
        if not batch:
            continue
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": batch})
        result = kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=document)
        assert result.returncode == 0, result.stderr
        for crd in batch:
            if crd["kind"] == "CustomResourceDefinition":
                name = crd["metadata"]["name"]
                kubectl(
                    "wait",
                    "--for=condition=Established",
                    f"crd/{name}",
                    "--timeout=60s",
                    check=True,
                )


def service_account_kubeconfig(
    kubectl: Kubectl, admin_kubeconfig: Path, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig that authenticates as `namespace/account` with a fresh token."""
    token = kubectl("create", "token", account, "-n", namespace, "--duration=4h")
    assert token.returncode == 0, token.stderr
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    current = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == current["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token.stdout.strip()}}],
        "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": account}}],
        "current-context": account,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def operator_kubeconfig(kubectl: Kubectl, kubeconfig: Path, crds_installed: list[str]) -> Path:
    """Credentials of the shipped ServiceAccount (manifests/overlays/secrets RBAC).

    Every e2e scenario thus runs through the least-privilege RBAC users install; a
    missing verb fails the tests.
    """
    install(kubectl, render_manifests(kubectl, "manifests/overlays/secrets"))
    return service_account_kubeconfig(
        kubectl,
        kubeconfig,
        "rollout-operator-system",
        "rollout-operator",
        LOG_DIR / "operator.kubeconfig",
    )


@pytest.fixture(scope="session")
def operator(operator_kubeconfig: Path) -> Iterator[OperatorProcess]:
    """One operator for the session, cluster-wide, with Secret watching enabled."""
    process = OperatorProcess(operator_kubeconfig, ["--enable-secrets"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def grant_leases(kubectl: Kubectl, namespace: str) -> None:
    """What every install grants in the operator's namespace (the base's Lease Role), here in
    `namespace` and for any Lease name: for tests that elect on Leases of their own."""
    kubectl.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "leases"},
            "rules": [
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["get", "create", "update"],
                }
            ],
        },
        namespace,
    )
    kubectl.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "leases"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leases"},
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": "rollout-operator",
                    "namespace": "rollout-operator-system",
                }
            ],
        },
        namespace,
    )
