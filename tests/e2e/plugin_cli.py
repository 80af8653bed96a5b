"""Run `kubectl rollouts` the way a CI script does: kubectl finds the plugin on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .kube import Kubectl, make_deployment
from .rollouts import make_rollout, wait_phase

#: The venv's bin: where `pip install` put the console script `kubectl-rollouts`.
VENV_BIN = Path(sys.executable).parent
#: Guard against a hang only; every wait the tests rely on ends by itself sooner.
HANG_GUARD = 300


def plugin_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("KUBECONFIG", None)
    return {**env, **(extra or {})}


@dataclass(frozen=True)
class Plugin:
    """``plugin("status", "web", "-n", ns)`` runs ``kubectl rollouts status web -n ns``."""

    kubectl: Kubectl

    def command(self, *args: str) -> list[str]:
        return [
            str(self.kubectl.binary),
            "rollouts",
            *args,
            "--kubeconfig",
            str(self.kubectl.kubeconfig),
        ]

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=HANG_GUARD,
            env=plugin_env(env),
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Run in the background; read its stdout line by line."""
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=plugin_env(),
        )


@pytest.fixture(scope="session", name="plugin")
def plugin_fixture(kubectl: Kubectl) -> Plugin:
    """The plugin as kubectl finds it (import `plugin_fixture` to use `plugin`)."""
    found = subprocess.run(
        [str(kubectl.binary), "plugin", "list", "--name-only"],
        capture_output=True,
        text=True,
        env=plugin_env(),
        check=False,
    )
    assert "kubectl-rollouts" in found.stdout, f"kubectl does not find the plugin: {found.stderr}"
    return Plugin(kubectl)


def lines_until(process: subprocess.Popen[str], wanted: str) -> Iterator[str]:
    """Yield the process's stdout lines up to and including the first containing `wanted`."""
    assert process.stdout is not None
    for line in process.stdout:
        yield line.rstrip("\n")
        if wanted in line:
            return
    raise AssertionError(f"the plugin exited ({process.wait()}) before printing {wanted!r}")


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a background plugin; (exit code, rest of stdout, stderr).

    Reads through the same file objects as `lines_until` (communicate() would bypass
    their buffers and lose lines); the plugin's own --timeout bounds the wait.
    """
    assert process.stdout is not None
    assert process.stderr is not None
    out = process.stdout.read()
    err = process.stderr.read()
    return process.wait(timeout=HANG_GUARD), out, err


def ready_rollout(
    kubectl: Kubectl,
    custom_api: Any,
    namespace: str,
    name: str,
    workload: dict[str, Any] | None = None,
    **rollout: Any,
) -> dict[str, Any]:
    """Apply a workload (a Deployment by default) and its Rollout; wait until Succeeded."""
    workload = workload or make_deployment(name)
    kubectl.apply(workload, namespace)
    kind = workload["kind"]
    kubectl.apply(make_rollout(name, name, kind, **rollout), namespace)
    return wait_phase(custom_api, namespace, name, "Succeeded", timeout=120)


def template_image(apps_api: Any, kind: str, namespace: str, name: str) -> str:
    read = {
        "Deployment": apps_api.read_namespaced_deployment,
        "StatefulSet": apps_api.read_namespaced_stateful_set,
        "DaemonSet": apps_api.read_namespaced_daemon_set,
    }[kind]
    image: str = read(name, namespace).spec.template.spec.containers[0].image
    return image


def deployment_rolled_out(apps_api: Any, namespace: str, name: str) -> tuple[str, bool]:
    """(template image, fully rolled out) of a Deployment, read once."""
    deployment = apps_api.read_namespaced_deployment(name, namespace)
    status = deployment.status
    replicas = deployment.spec.replicas
    done = (
        status.observed_generation == deployment.metadata.generation
        and status.updated_replicas == replicas
        and status.available_replicas == replicas
        and (status.replicas or 0) == replicas
    )
    return deployment.spec.template.spec.containers[0].image, done
