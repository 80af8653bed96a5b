"""The operator under test, run as users run it: `rollout-operator run` in its own process.

Tests talk to it only through the API server (and its metrics/health ports on 127.0.0.1).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from .kube import wait_for

LOG_DIR = Path(__file__).resolve().parents[2] / ".venv" / "e2e-logs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OperatorProcess:
    """Start/stop one `rollout-operator run` against a kubeconfig; logs go to a file."""

    def __init__(self, kubeconfig: Path, args: Sequence[str] = (), name: str = "operator",
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.kubeconfig = kubeconfig
        self.args = list(args)
        self.metrics_port = free_port()
        self.health_port = free_port()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "rollout_operator", "run",
            "--bind-address", "127.0.0.1",
            "--metrics-port", str(self.metrics_port),
            "--health-port", str(self.health_port),
            "--restart-debounce", "0.5",
            *self.args,
        ]  # fmt: skip
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **(self.env or {})}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for(self.healthy, timeout=60, what=f"operator health (log: {self.log_path})")

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
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode()
            return text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def operator(kubeconfig: Path, crds_installed: list[str]) -> Iterator[OperatorProcess]:
    """One operator for the session, cluster-wide, with Secret watching enabled."""
    process = OperatorProcess(kubeconfig, ["--enable-secrets"])
    process.start()
    try:
        yield process
    finally:
        process.stop()
