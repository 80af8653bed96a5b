"""The tools under test as processes: rollout-operator (the e2e harness's OperatorProcess)
and, when a binary is given, Stakater Reloader. Both expose the same few things the
scenarios read: spawn time, health, metrics, CPU time and memory."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tests.e2e.kube import wait_for
from tests.e2e.operator_process import (
    OperatorProcess,
    free_port,
    process_cpu_seconds,
    process_memory,
    stop_process,
)

from . import metrics
from .metrics import Samples

OPERATOR = "rollout-operator"
RELOADER = "Reloader"


class Tool(Protocol):
    """What a scenario needs from a running tool."""

    label: str
    started_at: float

    def start(self, *, wait: bool = True, timeout: float = 60) -> float: ...
    def healthy(self) -> bool: ...
    def samples(self) -> Samples: ...
    def cpu_seconds(self) -> float: ...
    def memory(self) -> dict[str, int]: ...
    def stop(self) -> None: ...


class Operator(OperatorProcess):
    """`rollout-operator run` with the shipped defaults (no e2e flags)."""

    label = OPERATOR

    def __init__(
        self,
        kubeconfig: Path,
        log_dir: Path,
        name: str,
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        module: str = "rollout_operator",
    ) -> None:
        super().__init__(kubeconfig, args, name, env, log_dir=log_dir, defaults=(), module=module)

    def samples(self) -> Samples:
        return metrics.parse(self.metrics())

    def try_samples(self) -> Samples | None:
        try:
            return self.samples()
        except OSError:
            return None

    def reconciles(self) -> tuple[float, float] | None:
        """(queue depth, reconciles so far), or None while /metrics does not answer."""
        samples = self.try_samples()
        if samples is None:
            return None
        return (
            metrics.total(samples, "rollout_operator_queue_depth"),
            metrics.total(samples, "rollout_operator_reconciles_total"),
        )

    def wait_idle(self, rollouts: int, timeout: float = 900, settle: float = 1.0) -> float:
        """Until the queue is empty, ≥ `rollouts` reconciles ran and none ran for `settle`
        seconds; returns when the reconcile count last moved (to the 0.1 s polling)."""
        deadline = time.monotonic() + timeout
        last_count, changed_at = -1.0, time.monotonic()
        while True:
            self.healthy()  # raises when the process died
            state, now = self.reconciles(), time.monotonic()
            if state is not None:
                depth, count = state
                if count != last_count:
                    last_count, changed_at = count, now
                elif depth == 0 and count >= rollouts and now - changed_at >= settle:
                    return changed_at
            if now > deadline:
                raise TimeoutError(f"operator queue not drained after {timeout}s")
            time.sleep(0.1)

    def is_leader(self) -> bool:
        """rollout_operator_leader when exported, else kopf peering's log lines."""
        samples = self.try_samples() or {}
        if any(name == "rollout_operator_leader" for name, _ in samples):
            return metrics.total(samples, "rollout_operator_leader") == 1
        log = self.log()
        return log.rfind("Resuming operations") > log.rfind("Pausing operations")


class Reloader:
    """Stakater Reloader (benchmarks/reloader/build.sh), its HTTP server on 127.0.0.1."""

    label = RELOADER

    def __init__(
        self,
        binary: Path,
        kubeconfig: Path,
        log_dir: Path,
        name: str,
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.args = list(args)
        self.port = free_port()
        self.env = env or {}
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self, *, wait: bool = True, timeout: float = 60) -> float:
        command = [str(self.binary), *self.args]
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "RELOADER_HTTP_ADDR": f"127.0.0.1:{self.port}",
            **self.env,
        }
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(command)}\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        if wait:
            wait_for(self.healthy, timeout=timeout, interval=0.05, what=f"{self.log_path}")
        return self.started_at

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _get(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            text: str = response.read().decode()
            return text

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"Reloader exited {self.process.returncode}; see {self.log_path}")
        try:
            self._get("/live")
        except OSError:
            return False
        return True

    def samples(self) -> Samples:
        return metrics.parse(self._get("/metrics"))

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def memory(self) -> dict[str, int]:
        return process_memory(self.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def is_leader(self) -> bool:
        return "became leader" in self.log()

    def stop(self) -> None:
        stop_process(self.process)
