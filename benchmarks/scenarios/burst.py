"""burst: `burst` more ConfigMaps per tool, each referenced by a Deployment of its own
(0 replicas: the restart write is measured, not pods), all edited at once (8 client
threads) → every Deployment restarted. Each tool runs alone, started fresh and settled."""

from __future__ import annotations

import time
import uuid

from .. import objects as o
from ..harness import Bench, spread
from ..report import Row, ScenarioResult
from ..timing import ReadyTracker
from ..tools import OPERATOR
from . import big as b

TITLE = "Burst: many ConfigMaps edited at once → all restarted"
FIGURES = (
    ("all", "first edit sent → all workloads restarted", "s"),
    ("cpu", "CPU, first edit → all restarted", "cpu-s"),
    ("peak", "peak RSS (VmHWM, start-up included)", "bytes"),
)


def setup(bench: Bench, big: b.Big) -> None:
    items: list[tuple[str, dict[str, object]]] = []
    for label in b.tools(bench):
        prefix = "ob" if label == OPERATOR else "rb"
        big.burst[label] = spread(prefix, bench.sizes.burst, big.namespaces)
        items += b.workloads(big, label, "burst", big.burst[label], 0)
    bench.api.create_many(items, workers=8)


def measure(bench: Bench, big: b.Big, label: str) -> tuple[b.Figures, list[Row]]:
    items = big.burst[label]
    watch = bench.watch(o.deployments_path(), f"{o.BENCH_LABEL}={big.role(label, 'burst')}")
    gens = b.generations(watch)
    tracker = ReadyTracker(o.restarted_since(gens), len(items))
    watch.on_event = tracker.on_event
    tool = b.start(bench, label, name="burst")
    b.settle(bench, tool, len(big.managed[label]) + len(items))
    cpu0, t0 = tool.cpu_seconds(), time.monotonic()
    bench.api.patch_many(
        [
            (f"{o.configmaps_path(ns)}/{n}", {"data": {"config.txt": f"b {uuid.uuid4()}"}})
            for ns, n in items
        ],
        content_type="application/merge-patch+json",
    )
    t_all = tracker.wait(1800, f"{label}: burst restarts") - t0
    figures = {"all": t_all, "cpu": tool.cpu_seconds() - cpu0, "peak": tool.memory()["VmHWM"]}
    per_workload = [t - t0 for t in tracker.first.values()]
    tool.stop()
    watch.stop()
    return figures, [Row.of(f"{label}: first edit sent → each workload restarted", per_workload)]


def finish(result: ScenarioResult, by_tool: dict[str, b.Figures], n: int) -> None:
    b.compare(result, by_tool, FIGURES)
    result.notes.append(f"{n} ConfigMaps per tool; ours with --restart-debounce 0.")
