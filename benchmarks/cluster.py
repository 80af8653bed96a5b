"""The benchmarks' own local cluster: tests/cluster/cluster.sh under its own cache root.

The root is $ROLLOUT_OPERATOR_BENCH_CACHE, else "<cluster cache>-bench" (the cluster cache
being that of `make cluster-binaries`, see tests.e2e.kube.cache_root), so `make bench`
never reuses nor tears down the cluster of `make demo`/`make e2e`. Binaries are not built
twice: the bench root's bin dir is a symlink to a cache that has them, else
tests/cluster/build.sh builds them first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.kube import CLUSTER_DIR, Kubectl, cache_bin_dir, cache_root
from tests.e2e.operator_process import process_cpu_seconds

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SH = CLUSTER_DIR / "cluster.sh"
BUILD_SH = CLUSTER_DIR / "build.sh"
CRD = REPO / "crds" / "rollout-operator.dev_rollouts.yaml"
BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "etcd",
    "kwok",
    "kwokctl",
)


def bench_cache_root() -> Path:
    configured = os.environ.get("ROLLOUT_OPERATOR_BENCH_CACHE")
    if configured:
        return Path(configured)
    root = cache_root()
    return root.with_name(root.name + "-bench")


def _complete(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in BINARIES)


def _build(root: Path) -> Path:
    print(f"bench: building the cluster binaries into {root}", file=sys.stderr, flush=True)
    env = {**os.environ, "ROLLOUT_OPERATOR_CACHE": str(root)}
    subprocess.run([str(BUILD_SH)], check=True, stdout=subprocess.DEVNULL, env=env)
    return cache_bin_dir(root)


def ensure_binaries(root: Path) -> Path:
    """root's bin dir with every binary: as it is, linked to a cache that has them, or built."""
    bin_dir = cache_bin_dir(root)
    if _complete(bin_dir):
        return bin_dir
    source = cache_bin_dir()
    if not _complete(source):
        source = _build(cache_root())
    if bin_dir.is_symlink():
        bin_dir.unlink()
    elif bin_dir.is_dir() and not any(bin_dir.iterdir()):
        bin_dir.rmdir()
    if bin_dir.exists():
        raise RuntimeError(f"{bin_dir} exists but lacks binaries; remove it or run build.sh")
    bin_dir.parent.mkdir(parents=True, exist_ok=True)
    bin_dir.symlink_to(source.resolve(), target_is_directory=True)
    return bin_dir


class Cluster:
    """cluster.sh up/down with the bench cache root; kubectl bound to its kubeconfig."""

    def __init__(self, root: Path, log_path: Path, ready_delay_ms: int = 1000) -> None:
        self.root = root
        self.bin_dir = ensure_binaries(root)
        self.log_path = log_path
        self.kubeconfig = root / "kubeconfig.yaml"
        self.nodes = 3
        #: $POD_READY_DELAY_MS wins over the caller's default.
        self.ready_delay_ms = int(os.environ.get("POD_READY_DELAY_MS") or ready_delay_ms)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(
            ROLLOUT_OPERATOR_CACHE=str(self.root),
            CLUSTER_NODES=str(self.nodes),
            POD_READY_DELAY_MS=str(self.ready_delay_ms),
            KUBECACHEDIR=str(self.root / "kube-cache"),
        )
        return env

    @property
    def kubectl(self) -> Kubectl:
        """kubectl (tests/e2e's runner) on this cluster; its cache stays under our root."""
        return Kubectl(self.bin_dir / "kubectl", self.kubeconfig, env=self.env())

    def _script(self, *args: str, timeout: float = 600) -> None:
        with self.log_path.open("a") as log:
            log.write(f"\n$ cluster.sh {' '.join(args)} (CLUSTER_NODES={self.nodes})\n")
            log.flush()
            subprocess.run(
                [str(CLUSTER_SH), *args],
                env=self.env(),
                stdout=log,
                stderr=log,
                check=True,
                timeout=timeout,
            )

    def fresh(self, nodes: int) -> None:
        """A new, empty cluster with `nodes` fake nodes, and the Rollout CRD."""
        self.nodes = nodes
        self._script("down")
        try:
            self._script("up")
        except subprocess.CalledProcessError:  # seen once on a loaded machine: nodes not Ready
            self._script("down")
            self._script("up")
        self.kubectl("apply", "--server-side", "-f", str(CRD), check=True)
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/rollouts.rollout-operator.dev",
            check=True,
        )

    def control_plane_cpu(self) -> dict[str, float]:
        """CPU seconds so far of each cluster process (apiserver, etcd, controllers, kwok),
        from kwokctl's pid files; a process that is gone counts 0."""
        found: dict[str, float] = {}
        pids = self.root / "kwok" / "clusters" / "rollout-operator" / "pids"
        for pid_file in sorted(pids.glob("*.pid")):
            try:
                found[pid_file.stem] = process_cpu_seconds(int(pid_file.read_text().strip()))
            except (OSError, ValueError):
                found[pid_file.stem] = 0.0
        return found

    def down(self) -> None:
        self._script("down")
