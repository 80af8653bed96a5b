"""The benchmarks' own local cluster (tests/cluster/cluster.sh under its own cache root).

The cluster lives under a cache root of its own, so that `make bench` never reuses nor
tears down the cluster of `make demo`/`make e2e`:

  $ROLLOUT_OPERATOR_BENCH_CACHE, else "<the cluster cache root>-bench", where the cluster
  cache root is $ROLLOUT_OPERATOR_CACHE or ${XDG_CACHE_HOME:-~/.cache}/rollout-operator.

The binaries are not built twice: when the bench root lacks them and a cluster cache root
has them (`make cluster-binaries` puts them there), the bench root's versioned bin dir is
a symlink to that one; otherwise tests/cluster/build.sh builds them first.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLUSTER_DIR = REPO / "tests" / "cluster"
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


def versions() -> dict[str, str]:
    """tests/cluster/versions.env as a dict."""
    found: dict[str, str] = {}
    for line in (CLUSTER_DIR / "versions.env").read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            found[key] = value
    return found


def stamp() -> str:
    return "k8s-{KUBE_VERSION}-etcd-{ETCD_VERSION}-kwok-{KWOK_VERSION}".format(**versions())


def xdg_cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rollout-operator"


def cluster_cache_root() -> Path:
    """Where `make cluster-binaries` / cluster.sh keep things (same rule as the scripts)."""
    configured = os.environ.get("ROLLOUT_OPERATOR_CACHE")
    return Path(configured) if configured else xdg_cache_root()


def bench_cache_root() -> Path:
    configured = os.environ.get("ROLLOUT_OPERATOR_BENCH_CACHE")
    if configured:
        return Path(configured)
    root = cluster_cache_root()
    return root.with_name(root.name + "-bench")


def _complete(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in BINARIES)


def ensure_binaries(root: Path) -> Path:
    """root's bin dir with every binary: as it is, linked to a cache that has them, or built."""
    bin_dir = root / stamp() / "bin"
    if _complete(bin_dir):
        return bin_dir
    sources = [r / stamp() / "bin" for r in (cluster_cache_root(), xdg_cache_root()) if r != root]
    source = next((s for s in sources if _complete(s)), None)
    if source is None:
        build_root = cluster_cache_root() if cluster_cache_root() != root else xdg_cache_root()
        print(
            f"bench: building the cluster binaries into {build_root} (tests/cluster/build.sh)",
            file=sys.stderr,
            flush=True,
        )
        subprocess.run(
            [str(BUILD_SH)],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "ROLLOUT_OPERATOR_CACHE": str(build_root)},
        )
        source = build_root / stamp() / "bin"
    bin_dir.parent.mkdir(parents=True, exist_ok=True)
    if bin_dir.is_symlink() or (bin_dir.is_dir() and not any(bin_dir.iterdir())):
        if bin_dir.is_symlink():
            bin_dir.unlink()
        else:
            bin_dir.rmdir()
    if bin_dir.exists():
        raise RuntimeError(f"{bin_dir} exists but lacks binaries; remove it or run build.sh")
    bin_dir.symlink_to(source.resolve(), target_is_directory=True)
    return bin_dir


class Cluster:
    """cluster.sh up/down with the bench cache root; kubectl bound to its kubeconfig."""

    def __init__(self, root: Path, log_path: Path) -> None:
        self.root = root
        self.bin_dir = ensure_binaries(root)
        self.log_path = log_path
        self.kubeconfig = root / "kubeconfig.yaml"
        self.nodes = 3
        self.ready_delay_ms = int(os.environ.get("POD_READY_DELAY_MS") or 1000)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(
            ROLLOUT_OPERATOR_CACHE=str(self.root),
            CLUSTER_NODES=str(self.nodes),
            POD_READY_DELAY_MS=str(self.ready_delay_ms),
            KUBECACHEDIR=str(self.root / "kube-cache"),
        )
        return env

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
        self._script("up")
        self.kubectl("apply", "--server-side", "-f", str(CRD))
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/rollouts.rollout-operator.dev",
        )

    def down(self) -> None:
        self._script("down")

    def kubectl_command(self, *args: str) -> list[str]:
        return [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            self.kubectl_command(*args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout
