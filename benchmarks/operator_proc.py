"""The operator under test as a subprocess (`python -m rollout_operator run`), with its
Prometheus metrics and its CPU time and memory read from /proc."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

#: (sample name, sorted label items) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def parse_prometheus(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return samples


_SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_selected(text: str, names: Sequence[str]) -> Samples:
    """Only the samples of `names` (the apiserver's /metrics is megabytes)."""
    samples: Samples = {}
    prefixes = tuple(name + "{" for name in names)
    for line in text.splitlines():
        if line.startswith(prefixes) and (match := _SAMPLE.match(line)):
            labels = tuple(sorted(_LABEL.findall(match.group(2))))
            samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def delta(after: Samples, before: Samples) -> Samples:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


def total(samples: Samples, name: str, **labels: str | Sequence[str]) -> float:
    """Sum of the samples of `name` whose labels match (a value or any of a sequence)."""
    result = 0.0
    for (sample_name, items), value in samples.items():
        if sample_name != name:
            continue
        have = dict(items)
        if all(
            have.get(k) in ((v,) if isinstance(v, str) else tuple(v)) for k, v in labels.items()
        ):
            result += value
    return result


class Operator:
    """One `rollout-operator run` process against the bench cluster."""

    def __init__(self, kubeconfig: Path, log_path: Path, args: Sequence[str] = ()) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.args = list(args)
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> float:
        """Spawn it; returns the monotonic time just before the spawn."""
        command = [
            sys.executable,
            "-m",
            "rollout_operator",
            "run",
            "--bind-address",
            "127.0.0.1",
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(self.health_port),
            *self.args,
        ]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(command)}\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self.started_at

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(
                f"operator exited with {self.process.returncode}; see {self.log_path}"
            )

    def healthy(self) -> bool:
        self._check_alive()
        try:
            url = f"http://127.0.0.1:{self.health_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 120) -> float:
        """Block until /healthz answers 200; returns when that was seen (monotonic)."""
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                raise TimeoutError(f"operator not healthy after {timeout}s; see {self.log_path}")
            time.sleep(0.05)
        return time.monotonic()

    def metrics(self) -> Samples:
        self._check_alive()
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return parse_prometheus(response.read().decode())

    def try_metrics(self) -> Samples | None:
        try:
            return self.metrics()
        except OSError:
            return None

    def wait_idle(self, rollouts: int, timeout: float = 900, settle: float = 1.0) -> float:
        """Until the queue is empty, at least `rollouts` reconciles ran, and no reconcile ran
        for `settle` seconds; returns when the reconcile count last moved (monotonic, to
        the 0.1 s polling)."""
        deadline = time.monotonic() + timeout
        last_count, changed_at = -1.0, time.monotonic()
        while True:
            samples = self.try_metrics()
            now = time.monotonic()
            if samples is not None:
                depth = total(samples, "rollout_operator_queue_depth")
                count = total(samples, "rollout_operator_reconciles_total")
                if count != last_count:
                    last_count, changed_at = count, now
                elif depth == 0 and count >= rollouts and now - changed_at >= settle:
                    return changed_at
            if now > deadline:
                raise TimeoutError(f"operator queue not drained after {timeout}s")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """utime + stime of the process, from /proc/<pid>/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory(self) -> Mapping[str, int]:
        """VmRSS and VmHWM (peak RSS) in bytes, from /proc/<pid>/status."""
        found: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) * 1024
        return found

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
