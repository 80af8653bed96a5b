"""`make demo` end to end (hack/demo.sh), on the local cluster it brings up itself."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from .kube import Kubectl
from .operator_process import REPO, OperatorProcess


@pytest.mark.skipif(
    bool(os.environ.get("E2E_KUBECONFIG")), reason="the demo always uses the local cluster"
)
def test_demo_rolls_out_the_example_pair(
    operator: OperatorProcess, kubectl: Kubectl, kubeconfig: Path
):
    operator.stop()  # the demo runs its own operator; two would both act
    pid_file = kubeconfig.parent / "demo-operator.pid"
    try:
        result = subprocess.run(
            [str(REPO / "hack" / "demo.sh")],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Done: both rolled out" in result.stdout
        rollouts = kubectl(
            "get", "rollouts", "-n", "pr12er", "-o", "jsonpath={.items[*].status.phase}"
        )
        assert rollouts.stdout.split() == ["Succeeded", "Succeeded"]
        events = kubectl(
            "get", "events", "-n", "pr12er", "--field-selector", "involvedObject.kind=Rollout"
        )
        assert "RestartTriggered" in events.stdout
        assert "ImageUpdated" in events.stdout
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGINT)
            pid_file.unlink()
        kubectl("delete", "namespace", "pr12er", "--wait=false")
        operator.start()
