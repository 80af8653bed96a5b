"""`python -m benchmarks.profile_operator run ARGS...`: the operator (same arguments as
`rollout-operator`) under a memory profile, for the profile scenario.

Before the operator starts: the RSS each heavy top-level package adds when imported (in the
order the operator would import them). Then tracemalloc runs (when BENCH_TRACEMALLOC_FRAMES
is not 0), and SIGUSR1 writes BENCH_PROFILE_OUT (JSON): traced memory by package and by
line, live objects by type (gc), and RSS before/after gc.collect() and malloc_trim(0).
"""

from __future__ import annotations

import collections
import ctypes
import gc
import importlib
import json
import os
import signal
import subprocess
import sys
import sysconfig
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

CANDIDATES = ("yaml", "prometheus_client", "aiohttp", "urllib3", "kubernetes")
#: What the running operator imports: the command line, then kopf's wiring (launch.py
#: imports kopf with the `kubernetes` package blocked).
OPERATOR_MODULES = ("rollout_operator.cli", "rollout_operator.launch")
STDLIB = sysconfig.get_paths()["stdlib"]


def rss(key: str = "VmRSS") -> int:
    """VmRSS (or RssAnon: heap; RssFile: mapped code and libraries) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def import_costs() -> list[tuple[str, int]]:
    """RSS added by each heavy package the operator imports, then by the operator itself."""
    probe = (
        f"import sys, {', '.join(OPERATOR_MODULES)}; "
        "print(' '.join(sorted({m.split('.')[0] for m, v in sys.modules.items() if v})))"
    )
    used = set(
        subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    costs = [("python interpreter", rss())]
    for name in [*(c for c in CANDIDATES if c in used), *OPERATOR_MODULES]:
        before = rss()
        importlib.import_module(name)
        costs.append((name, rss() - before))
    return costs


def package(filename: str) -> str:
    """Who allocated: a site-packages top-level name, rollout_operator, or stdlib:<module>."""
    path = Path(filename)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1].removesuffix(".py")
    if "rollout_operator" in path.parts:
        return "rollout_operator"
    if filename.startswith(STDLIB):
        return "stdlib:" + Path(filename[len(STDLIB) :].lstrip("/")).parts[0].removesuffix(".py")
    return filename


def traced() -> dict[str, Any]:
    if not tracemalloc.is_tracing():
        return {}
    snapshot = tracemalloc.take_snapshot()
    by_package: collections.Counter[str] = collections.Counter()
    for stat in snapshot.statistics("filename"):
        by_package[package(stat.traceback[0].filename)] += stat.size
    lines = [
        {
            "where": f"{s.traceback[0].filename}:{s.traceback[0].lineno}",
            "bytes": s.size,
            "count": s.count,
        }
        for s in snapshot.statistics("lineno")[:30]
    ]
    current, peak = tracemalloc.get_traced_memory()
    return {
        "traced_bytes": current,
        "traced_peak": peak,
        "tracemalloc_overhead": tracemalloc.get_tracemalloc_memory(),
        "by_package": by_package.most_common(25),
        "top_lines": lines,
    }


def objects() -> dict[str, Any]:
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    kopf = [(k, v) for k, v in counts.most_common() if k.startswith("kopf.")][:15]
    return {
        "objects_by_type": counts.most_common(25),
        "kopf_objects": kopf,
        "gc_tracked": sum(counts.values()),
    }


def dump(_signum: int, _frame: FrameType | None) -> None:
    report: dict[str, Any] = {
        "rss": rss(),
        "rss_anon": rss("RssAnon"),
        "rss_file": rss("RssFile"),
        "import_costs": COSTS,
        **traced(),
        **objects(),
    }
    gc.collect()
    report["rss_after_gc"] = rss()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    report["rss_after_malloc_trim"] = rss()
    Path(os.environ["BENCH_PROFILE_OUT"]).write_text(json.dumps(report, indent=1) + "\n")


COSTS: list[tuple[str, int]] = []

if __name__ == "__main__":
    COSTS.extend(import_costs())
    frames = int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1"))
    if frames:
        tracemalloc.start(frames)
    signal.signal(signal.SIGUSR1, dump)
    from rollout_operator.cli import main

    sys.exit(main(sys.argv[1:]))
