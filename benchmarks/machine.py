"""The report's header data: machine, versions, sizes."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.kube import cluster_versions

from .cluster import REPO, Cluster
from .harness import Sizes


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "operator") else "")


def _proc(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _reloader(binary: Path | None) -> str | None:
    if binary is None:
        return None
    return f"{binary.parent.name.removeprefix('reloader-')} ({binary})"


def metadata(sizes: Sizes, quick: bool, cluster: Cluster, reloader: Path | None) -> dict[str, Any]:
    pinned = cluster_versions()
    memory_kib = _proc("/proc/meminfo", "MemTotal:").split(" ")[0]
    return {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "quick": quick,
        "machine": {
            "cores": os.cpu_count(),
            "cpu": _proc("/proc/cpuinfo", "model name") or platform.processor(),
            "memory_gib": round(int(memory_kib) / 2**20, 1) if memory_kib else math.nan,
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "platform": platform.platform(),
        },
        "versions": {
            "kubernetes": pinned.get("KUBE_VERSION"),
            "etcd": pinned.get("ETCD_VERSION"),
            "kwok": pinned.get("KWOK_VERSION"),
            "python": platform.python_version(),
            "kopf": _version("kopf"),
            "kubernetes_client": _version("kubernetes"),
            "operator": _version("rollout-operator"),
            "git": _git(),
            "reloader": _reloader(reloader),
        },
        "config": {
            **dataclasses.asdict(sizes),
            "pod_ready_delay_ms": cluster.ready_delay_ms,
            "cache_root": str(cluster.root),
        },
    }
