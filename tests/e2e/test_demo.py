"""`make demo` end to end (hack/demo.sh), on the local cluster it brings up itself.

What a new user relies on: the demo fails loudly (what failed, the operator's pid and log
tail, nothing left running), survives a taken port, never makes its own Rollouts act twice,
can be run again, and its "Try next" lines work exactly as printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .kube import Kubectl
from .operator_process import REPO, OperatorProcess

NAMESPACE = "pr12er"
DEMO = str(REPO / "hack" / "demo.sh")

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("E2E_KUBECONFIG")), reason="the demo always uses the local cluster"
)


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    """Run hack/demo.sh; a run that hangs is stopped with SIGTERM so that it says where.

    A watcher left behind would keep the pipes open and count as a hang too.
    """
    with subprocess.Popen(
        [DEMO], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, **env}, start_new_session=True,
    ) as demo:  # fmt: skip
        try:
            stdout, stderr = demo.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGTERM)
            stdout, stderr = demo.communicate(timeout=60)
            pytest.fail(f"hack/demo.sh hung; it said:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(demo.args, demo.returncode, stdout, stderr)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def watchers(kubeconfig: Path) -> list[str]:
    """Running `kubectl ... --watch` processes that use this cluster's kubeconfig."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            cmdline = proc.joinpath("cmdline").read_bytes().split(b"\0")
            environ = proc.joinpath("environ").read_bytes().split(b"\0")
            if b"--watch" in cmdline and f"KUBECONFIG={kubeconfig}".encode() in environ:
                found.append(f"{proc.name}: {b' '.join(cmdline).decode()}")
    return found


def stop_demo_operator(pid_file: Path) -> None:
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGINT)
        pid_file.unlink()


def try_next(stdout: str) -> str:
    """The indented command lines under "Try next", as printed."""
    block = stdout.split("Try next", 1)[1].splitlines()[1:]
    lines = []
    for line in block:
        if not line.startswith("  "):
            break
        lines.append(line.strip())
    assert len(lines) >= 5, block
    return "\n".join(lines)


def generation(kubectl: Kubectl, name: str) -> int:
    result = kubectl(
        "get", "deployment", name, "-n", NAMESPACE, "-o", "jsonpath={.metadata.generation}"
    )
    return int(result.stdout)


@pytest.fixture
def demo_state(operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path) -> Iterator[Path]:
    """The session operator stopped (two operators would both act); cleaned up afterwards."""
    pid_file = kubeconfig.parent / "demo-operator.pid"
    operator.stop()
    stop_demo_operator(pid_file)
    try:
        yield pid_file
    finally:
        stop_demo_operator(pid_file)
        kubectl("delete", "namespace", NAMESPACE, "--wait=false")
        operator.start()


def test_demo_failure_says_what_and_leaves_nothing_running(
    demo_state: Path, kubeconfig: Path
) -> None:
    result = run_demo(DEMO_OPERATOR_ARGS="--no-such-flag")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "make demo failed" in result.stderr
    assert "while starting the operator" in result.stderr
    said = re.search(r"The operator \(pid (\d+)\) is not running", result.stderr)
    assert said, result.stderr
    pid = int(said[1])
    assert "--no-such-flag" in result.stderr.split("Last lines of its log")[1]  # the log tail
    assert not alive(pid)
    assert not demo_state.exists()
    assert watchers(kubeconfig) == []


def test_demo_rolls_out_once_with_a_taken_port_and_try_next_works(
    demo_state: Path, kubectl: Kubectl, kubeconfig: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_demo(DEMO_METRICS_PORT=str(port))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"port {port} is in use" in result.stderr
    assert "Done: both rolled out" in result.stdout
    assert watchers(kubeconfig) == []
    pid = int(demo_state.read_text())
    assert alive(pid)  # kept for the "Try next" lines

    phases = kubectl(
        "get", "rollouts.rollout-operator.dev", "-n", NAMESPACE,
        "-o", "jsonpath={.items[*].status.phase}",
    )  # fmt: skip
    assert phases.stdout.split() == ["Succeeded", "Succeeded"]
    # Created (1) + exactly one change each: the image patch, the restart. More would mean
    # the demo and its Rollouts fought over the workloads.
    assert generation(kubectl, "server") == 2
    assert generation(kubectl, "grafana-agent") == 2
    events = kubectl(
        "get", "events", "-n", NAMESPACE, "--field-selector", "involvedObject.kind=Rollout"
    )
    assert "RestartTriggered" in events.stdout
    assert "ImageUpdated" in events.stdout

    lines = try_next(result.stdout)
    assert "examples/bad-release.yaml" in lines
    assert f"127.0.0.1:{port}/" not in lines  # the port actually used, not the taken one
    tried = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", lines],
        capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
    )  # fmt: skip
    assert tried.returncode == 0, f"{lines}\n{tried.stdout}\n{tried.stderr}"
    assert "ProgressDeadlineExceeded" in tried.stdout  # the bad release failed, as promised
    assert "rollout_operator_rollouts" in tried.stdout

    again = run_demo(DEMO_METRICS_PORT=str(port))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"already running (pid {pid}" in again.stdout
    assert generation(kubectl, "server") == 2
    assert generation(kubectl, "grafana-agent") == 2
    assert watchers(kubeconfig) == []
