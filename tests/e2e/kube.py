"""Small helpers for the end-to-end tests: waiting on real state, kubectl, manifests.

Pods on the local cluster (tests/cluster/cluster.sh) run on kwok's fake nodes:
nothing is pulled or started, so any image name works. A pod becomes Ready
POD_READY_DELAY_MS (default 1000) ms after it is bound to a node, and a pod
with a container image whose tag ends in "-broken" (``app:v2-broken``) runs
but never becomes Ready: a bad release. The fake nodes carry no taints; the
manifests below still tolerate ``kwok.x-k8s.io/node`` (the taint of kwok's
documented example nodes) so they also schedule on such nodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_IMAGE = "registry.local/e2e/app:v1"
CONTAINER = "app"
KWOK_TOLERATION: dict[str, str] = {
    "key": "kwok.x-k8s.io/node",
    "operator": "Exists",
    "effect": "NoSchedule",
}


class WaitTimeoutError(AssertionError):
    """wait_for gave up; the message carries the last observed value."""


@dataclass(frozen=True)
class Observed:
    """A predicate result that is truthy when ``ok`` and reports ``value`` on timeout."""

    ok: bool
    value: Any = None

    def __bool__(self) -> bool:
        return self.ok


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 60.0,
    interval: float = 0.2,
    *,
    what: str = "",
) -> T:
    """Call ``predicate`` until its result is truthy, and return that result.

    Return ``Observed(ok, value)`` from the predicate to have ``value`` shown
    when it times out. An exception from the predicate counts as a falsy
    observation (e.g. a 404 before the object exists) and is chained.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    last_error: BaseException | None = None
    while True:
        try:
            result = predicate()
        except Exception as error:
            last, last_error = error, error
        else:
            if result:
                return result
            last, last_error = result, None
        if time.monotonic() >= deadline:
            shown = last.value if isinstance(last, Observed) else last
            label = what or getattr(predicate, "__name__", "condition")
            message = f"timed out after {timeout:g}s waiting for {label}; last observed: {shown!r}"
            raise WaitTimeoutError(message) from last_error
        time.sleep(interval)


CLUSTER_DIR = Path(__file__).resolve().parents[1] / "cluster"


def cluster_versions() -> dict[str, str]:
    """tests/cluster/versions.env as a dict (the pinned Kubernetes, etcd and kwok)."""
    found: dict[str, str] = {}
    for line in (CLUSTER_DIR / "versions.env").read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            found[key] = value
    return found


def cache_root() -> Path:
    """The cluster cache of tests/cluster/*.sh: $ROLLOUT_OPERATOR_CACHE, else the XDG one."""
    configured = os.environ.get("ROLLOUT_OPERATOR_CACHE")
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(configured) if configured else xdg / "rollout-operator"


def cache_bin_dir(root: Path | None = None) -> Path:
    """Where tests/cluster/build.sh puts kubectl, kube-apiserver, kwokctl... (same rule)."""
    stamp = "k8s-{KUBE_VERSION}-etcd-{ETCD_VERSION}-kwok-{KWOK_VERSION}".format(
        **cluster_versions()
    )
    return (root or cache_root()) / stamp / "bin"


@dataclass(frozen=True)
class Kubectl:
    """Runs kubectl against one kubeconfig: ``kubectl("get", "pods", "-n", ns)``."""

    binary: Path | str
    kubeconfig: Path
    default_timeout: float = 120.0
    #: The whole environment of kubectl (None: ours), e.g. a KUBECACHEDIR of its own.
    env: Mapping[str, str] | None = None

    def __call__(
        self,
        *args: str,
        check: bool = False,
        timeout: float | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raise subprocess.TimeoutExpired past ``timeout`` seconds."""
        command = [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=check,
            timeout=self.default_timeout if timeout is None else timeout,
            input=input,
            env=None if self.env is None else dict(self.env),
        )

    def apply(self, manifest: Mapping[str, Any], namespace: str) -> None:
        """``kubectl apply -f -`` one manifest dict; fail with kubectl's output."""
        result = self("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
        assert result.returncode == 0, f"kubectl apply failed: {result.stderr}{result.stdout}"


def _pod_template(
    labels: Mapping[str, str], image: str, annotations: Mapping[str, str] | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "metadata": metadata,
        "spec": {
            "containers": [{"name": CONTAINER, "image": image}],
            "tolerations": [dict(KWOK_TOLERATION)],
            # Nothing to stop on fake nodes; keeps deletes quick on real ones too.
            "terminationGracePeriodSeconds": 1,
        },
    }


def make_deployment(
    name: str,
    image: str = DEFAULT_IMAGE,
    replicas: int = 3,
    *,
    progress_deadline_seconds: int | None = None,
    max_surge: int | str = 1,
    max_unavailable: int | str = 0,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An apps/v1 Deployment manifest with one container named ``app``."""
    labels = {"app": name}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
        },
        "template": _pod_template(labels, image, annotations),
    }
    if progress_deadline_seconds is not None:
        spec["progressDeadlineSeconds"] = progress_deadline_seconds
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def make_statefulset(
    name: str,
    image: str = DEFAULT_IMAGE,
    replicas: int = 3,
    *,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An apps/v1 StatefulSet manifest (RollingUpdate, OrderedReady, no volumes)."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": _pod_template(labels, image, annotations),
        },
    }


def make_daemonset(
    name: str,
    image: str = DEFAULT_IMAGE,
    *,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An apps/v1 DaemonSet manifest (RollingUpdate, maxUnavailable 1)."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": _pod_template(labels, image, annotations),
        },
    }


def pod_images(core_api: Any, namespace: str, selector: str) -> list[list[str]]:
    """The container images of each live (not terminating) pod matching ``selector``."""
    pods = core_api.list_namespaced_pod(namespace, label_selector=selector).items
    return sorted(
        [c.image for c in pod.spec.containers]
        for pod in pods
        if pod.metadata.deletion_timestamp is None
    )


def all_pods_run(core_api: Any, namespace: str, selector: str, images: Sequence[str]) -> Observed:
    """Observed(ok) when every live pod matching ``selector`` runs exactly ``images``."""
    seen = pod_images(core_api, namespace, selector)
    return Observed(bool(seen) and all(i == list(images) for i in seen), seen)
