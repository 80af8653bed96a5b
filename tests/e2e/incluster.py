"""The operator as users run it: its image, in a real pod, on the local cluster's real node.

`tests/cluster/realnode.sh` joins a real kubelet (containerd, runc) to the local cluster;
`hack/image.sh` builds the image and `realnode.sh import` hands it to containerd (no
registry). An install is one `kubectl apply -k` of a shipped mode (manifests/...) through
a small overlay that changes only the image and lets the operator's pods onto the real
node (nodeSelector + toleration). The workloads the operator manages stay on kwok's fake
nodes. Everything goes through kubectl: nothing here depends on a Python Kubernetes client.

Environment: E2E_REAL_NODE=0 skips these tests (e.g. without root); E2E_KEEP_CLUSTER=1
leaves a real node this session started running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .kube import Kubectl, Observed, wait_for
from .operator_process import (
    OperatorProcess,
    install,
    render_manifests,
    service_account_kubeconfig,
)

REPO = Path(__file__).resolve().parents[2]
REALNODE_SH = REPO / "tests" / "cluster" / "realnode.sh"
IMAGE_SH = REPO / "hack" / "image.sh"
CONTAINERS_CONF = REPO / "tests" / "cluster" / "realnode" / "containers.conf"
SHIPPED_IMAGE = "ghcr.io/rollout-operator/rollout-operator"
OPERATOR_NAMESPACE = "rollout-operator-system"
OPERATOR_ACCOUNT = "rollout-operator"
OPERATOR_SELECTOR = "app.kubernetes.io/name=rollout-operator,app.kubernetes.io/component=operator"
REAL_NODE_KEY = "rollout-operator.dev/real-node"
#: Label on everything a test creates besides the install, to clean it up.
TEST_LABEL = "rollout-operator.dev/e2e-incluster"
#: Kept across installs: the CRDs (other tests' Rollouts live on), the namespace and the
#: ServiceAccount (the session's local operator authenticates with a token of it).
KEPT_KINDS = frozenset({"CustomResourceDefinition", "Namespace", "ServiceAccount"})


def _run(*args: str | Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """A repo script: its log to our stderr, its stdout captured."""
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}
    return subprocess.run(
        [str(a) for a in args],
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
        env=env,
    )


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def _skip_reason() -> str | None:
    if os.environ.get("E2E_REAL_NODE") == "0":
        return "E2E_REAL_NODE=0"
    if os.environ.get("E2E_KUBECONFIG"):
        return "in-cluster tests need the local cluster's real node (not E2E_KUBECONFIG)"
    return None


@pytest.fixture(scope="session")
def real_node(kubeconfig: Path) -> Iterator[str]:
    """The real node's name; started when it is not up, stopped again if this session did."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    started = False
    if _run(REALNODE_SH, "status", timeout=60).returncode != 0:
        started = True
        if _run(REALNODE_SH, "up", timeout=900).returncode != 0:
            pytest.fail("tests/cluster/realnode.sh up failed (see its output above)")
    try:
        yield "localhost"
    finally:
        if started and os.environ.get("E2E_KEEP_CLUSTER") != "1":
            _run(REALNODE_SH, "down", timeout=300)


@pytest.fixture(scope="session")
def operator_image(real_node: str) -> str:
    """`make image`'s image, imported into the real node's containerd."""
    built = _run(IMAGE_SH, timeout=1800)
    assert built.returncode == 0, "hack/image.sh failed (see its output above)"
    image = built.stdout.strip().splitlines()[-1]
    imported = _run(REALNODE_SH, "import", image, timeout=600)
    assert imported.returncode == 0, f"realnode.sh import {image} failed (see above)"
    return image


def kget(kubectl: Kubectl, *args: str) -> Any:
    """`kubectl get ... -o json`, parsed."""
    result = kubectl("get", *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def apply_objects(kubectl: Kubectl, objects: Sequence[dict[str, Any]], namespace: str) -> None:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    result = kubectl("apply", "-n", namespace, "-f", "-", input=document)
    assert result.returncode == 0, result.stderr + result.stdout


@dataclass
class Install:
    """One shipped install mode, applied with `kubectl apply -k` through `overlay`."""

    mode: str  # e.g. "manifests/overlays/ha"
    overlay: Path

    def objects(self, kubectl: Kubectl) -> list[dict[str, Any]]:
        result = kubectl("kustomize", str(self.overlay))
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def deployment(self, kubectl: Kubectl) -> dict[str, Any]:
        return next(o for o in self.objects(kubectl) if o["kind"] == "Deployment")


def write_overlay(directory: Path, mode: str, image: str) -> Path:
    """A kustomization of `mode` that changes only the image and the pods' placement."""
    name, _, tag = image.rpartition(":")
    directory.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / mode, directory)],
        "images": [{"name": SHIPPED_IMAGE, "newName": name, "newTag": tag}],
        "patches": [
            {
                "target": {"group": "apps", "kind": "Deployment", "name": "rollout-operator"},
                "patch": json.dumps(
                    [
                        {
                            "op": "add",
                            "path": "/spec/template/spec/nodeSelector",
                            "value": {REAL_NODE_KEY: "true"},
                        },
                        {
                            "op": "add",
                            "path": "/spec/template/spec/tolerations",
                            "value": [
                                {"key": REAL_NODE_KEY, "operator": "Exists", "effect": "NoSchedule"}
                            ],
                        },
                    ]
                ),
            }
        ],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return directory


def apply_install(kubectl: Kubectl, mode: str, image: str, workdir: Path) -> Install:
    """`kubectl apply -k` of the overlay, as a user would: one command."""
    overlay = write_overlay(workdir / mode.replace("/", "-"), mode, image)
    result = kubectl("apply", "-k", str(overlay), timeout=120)
    assert result.returncode == 0, (
        f"kubectl apply -k {mode} failed:\n{result.stderr}{result.stdout}"
    )
    return Install(mode, overlay)


def remove_install(kubectl: Kubectl, installed: Install) -> None:
    """Delete what the install made (but KEPT_KINDS) and wait until its pods are gone."""
    items = [o for o in installed.objects(kubectl) if o["kind"] not in KEPT_KINDS]
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true", input=document, timeout=180)
    kubectl("delete", "lease", "rollout-operator", "-n", OPERATOR_NAMESPACE, "--ignore-not-found")
    wait_for(
        lambda: Observed(
            not operator_pods(kubectl), [p["metadata"]["name"] for p in operator_pods(kubectl)]
        ),
        timeout=120,
        what="the operator pods to be gone",
    )


def operator_pods(kubectl: Kubectl) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = kget(
        kubectl, "pods", "-n", OPERATOR_NAMESPACE, "-l", OPERATOR_SELECTOR
    )["items"]
    return pods


def started(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(s.get("started") for s in statuses)


def pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restarts(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def wait_operator_ready(kubectl: Kubectl, count: int, timeout: int = 180) -> list[dict[str, Any]]:
    """`kubectl rollout status` of the operator, as a user would; then its `count` pods,
    each Ready (readinessProbe /readyz) with its container started."""
    result = kubectl(
        "rollout", "status", "deployment/rollout-operator", "-n", OPERATOR_NAMESPACE,
        f"--timeout={timeout}s", timeout=timeout + 30,
    )  # fmt: skip
    pods = [p for p in operator_pods(kubectl) if not p["metadata"].get("deletionTimestamp")]
    summary = [(p["metadata"]["name"], p["spec"].get("nodeName"), restarts(p)) for p in pods]
    assert result.returncode == 0, f"{result.stderr}{result.stdout}\npods: {summary}"
    assert len(pods) == count, summary
    assert all(started(p) and pod_ready(p) for p in pods), summary
    return pods


def operator_logs(kubectl: Kubectl, pod: str, tail: int = 60) -> str:
    result = kubectl("logs", "-n", OPERATOR_NAMESPACE, pod, f"--tail={tail}", "--all-containers")
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def local_operator_paused(
    operator: OperatorProcess, operator_kubeconfig: Path, kubectl: Kubectl, kubeconfig: Path
) -> Iterator[None]:
    """The session's local operator (cluster-wide) is stopped while the in-cluster one acts.

    Afterwards the shipped RBAC it runs with (the secrets overlay) is restored, since the
    installs replace and delete those objects, and it starts again.
    """
    operator.stop()
    try:
        yield
    finally:
        install(kubectl, render_manifests(kubectl, "manifests/overlays/secrets"))
        service_account_kubeconfig(
            kubectl, kubeconfig, OPERATOR_NAMESPACE, OPERATOR_ACCOUNT, operator_kubeconfig
        )
        operator.start()
