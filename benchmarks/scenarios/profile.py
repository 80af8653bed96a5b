"""profile: where the operator's memory goes on the big setup: import cost of each heavy
package, tracemalloc by package and line, live objects by type (kopf's among them), and
what gc.collect() and malloc_trim(0) give back. A separate run under the profiler
(benchmarks/profile_operator.py): its RSS includes tracemalloc's own bookkeeping."""

from __future__ import annotations

import json
import signal
from typing import Any

from tests.e2e.kube import wait_for

from ..harness import Bench
from ..report import Row, ScenarioResult
from . import big as b

TITLE = "Memory profile of the operator on the big setup"
OPERATOR_MODULE = "benchmarks.profile_operator"


def _rows(report: dict[str, Any]) -> list[Row]:
    rows = [Row.single(f"import: {name}", size, "bytes") for name, size in report["import_costs"]]
    rows += [
        Row.single(f"traced by {name}", size, "bytes")
        for name, size in report.get("by_package", [])[:12]
    ]
    rows += [
        Row.single("RSS under the profiler", report["rss"], "bytes"),
        Row.single("  of which heap (RssAnon)", report.get("rss_anon", 0), "bytes"),
        Row.single(
            "  of which mapped files: code, libraries (RssFile)", report.get("rss_file", 0), "bytes"
        ),
        Row.single(
            "  traced Python allocations (tracemalloc)", report.get("traced_bytes", 0), "bytes"
        ),
        Row.single(
            "  tracemalloc's own bookkeeping", report.get("tracemalloc_overhead", 0), "bytes"
        ),
        Row.single("RSS after gc.collect()", report["rss_after_gc"], "bytes"),
        Row.single("RSS after malloc_trim(0)", report["rss_after_malloc_trim"], "bytes"),
        Row.single("gc-tracked objects", report["gc_tracked"], "count"),
    ]
    rows += [
        Row.single(f"objects: {kind}", n, "count") for kind, n in report["objects_by_type"][:10]
    ]
    return rows


def run(bench: Bench, result: ScenarioResult, big: b.Big) -> None:
    out = bench.log_dir / "profile.json"
    env = {"BENCH_PROFILE_OUT": str(out)}
    tool = bench.operator(
        "--restart-debounce", "0", name="profile", env=env, module=OPERATOR_MODULE
    )
    b.settle(bench, tool, len(big.managed[tool.label]))
    assert tool.process is not None
    tool.process.send_signal(signal.SIGUSR1)
    wait_for(out.exists, timeout=300, interval=0.5, what="the profile dump")
    wait_for(lambda: out.read_text().endswith("}\n"), timeout=60, what="the whole dump")
    tool.stop()
    report = json.loads(out.read_text())
    result.rows += _rows(report)
    result.extra["profile"] = report
    result.notes.append(f"Full dump (top lines, kopf objects): {out.name} in the logs folder.")
