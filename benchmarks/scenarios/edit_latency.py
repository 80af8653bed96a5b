"""edit-latency: ConfigMap edit → restart on the big setup, one edit at a time on distinct
managed workloads, each tool running alone (ours with --restart-debounce 0)."""

from __future__ import annotations

import statistics
import uuid

from .. import objects as o
from ..harness import Bench
from ..report import Row, ScenarioResult, percentile
from ..timing import event
from ..tools import Operator, Reloader
from . import big as b

TITLE = "ConfigMap edit → restart on the big setup (debounce 0)"
FIGURES = (
    ("median", "edit → restart, median", "s"),
    ("p90", "edit → restart, p90", "s"),
)


def measure(bench: Bench, big: b.Big, tool: Operator | Reloader) -> tuple[b.Figures, list[Row]]:
    items = big.managed[tool.label]
    watch = bench.watch(o.deployments_path(), f"{o.BENCH_LABEL}={big.role(tool.label)}")
    latencies = []
    for rep in range(bench.sizes.reps + 1):  # rep 0 warms up
        ns, name = items[rep % len(items)]
        before, since = o.generation(watch.current(ns, name) or {}), watch.mark()
        t0 = b.edit(bench, ns, name, f"edit {rep} {uuid.uuid4()}")
        seen = watch.wait(event(ns, name, o.newer_than(before)), since, 60)[0]
        watch.wait_object(ns, name, o.deployment_done, 120)
        if rep:
            latencies.append(seen - t0)
    watch.stop()
    figures = {"median": statistics.median(latencies), "p90": percentile(latencies, 90)}
    return figures, [Row.of(f"{tool.label}: ConfigMap edit → restart", latencies)]


def finish(result: ScenarioResult, by_tool: dict[str, b.Figures]) -> None:
    b.compare(result, by_tool, FIGURES)
    result.notes.append(
        "From our ConfigMap PATCH being sent to the watch event in which the Deployment's "
        "generation moved (ours: the restart annotation; Reloader: its env var)."
    )
