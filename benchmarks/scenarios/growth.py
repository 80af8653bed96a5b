"""growth: the tools' settled RSS on the big setup as it is, then after as many unmanaged
Deployments and ConfigMaps again (the cluster doubled, the referenced objects the same).
Memory that follows the referenced objects stays flat; a cache of the cluster grows."""

from __future__ import annotations

import statistics
import time

from .. import objects as o
from ..harness import Bench, spread
from ..report import ScenarioResult
from ..timing import sampling
from . import big as b

TITLE = "Memory against cluster size: settled RSS with the cluster doubled"
FIGURES = (
    ("rss_1x", "settled RSS, cluster as set up", "bytes"),
    ("rss_2x", "settled RSS, cluster doubled", "bytes"),
    ("growth", "RSS added by doubling the cluster", "bytes"),
)
WINDOW = 5.0  # seconds of 1 s RSS samples, before pace


def referenced(big: b.Big, label: str) -> int:
    """Rollouts (ours) or annotated workloads (Reloader) of a tool at this point."""
    return len(big.managed.get(label, [])) + len(big.burst.get(label, []))


def settled_rss(bench: Bench, big: b.Big, label: str) -> float:
    """A fresh process of the tool, settled; the median of its RSS samples over WINDOW."""
    tool = b.start(bench, label, name="growth")
    b.settle(bench, tool, referenced(big, label))
    with sampling(tool) as samples:
        time.sleep(bench.sizes.wait(WINDOW))
    tool.stop()
    return statistics.median(s[2] for s in samples)


def grow(bench: Bench, big: b.Big) -> int:
    """As many unmanaged Deployments (0 replicas) and 4 KiB ConfigMaps again; the count."""
    sizes = bench.sizes
    items: list[tuple[str, dict[str, object]]] = []
    for ns, name in spread("g", sizes.unmanaged, big.namespaces):
        items += [
            (o.deployments_path(ns), o.deployment(ns, name, "v1", 0, "grown")),
            (o.configmaps_path(ns), o.configmap(ns, name, sizes.configmap_bytes, "grown")),
        ]
    bench.api.create_many(items, workers=8)
    bench.wait_deployments(sizes.unmanaged, f"{o.BENCH_LABEL}=grown")
    return len(items)


def measure(bench: Bench, big: b.Big) -> dict[str, b.Figures]:
    """Both sizes for every tool (the cluster stays doubled afterwards)."""
    found: dict[str, b.Figures] = {label: {} for label in b.tools(bench)}
    for label, figures in found.items():
        figures["rss_1x"] = settled_rss(bench, big, label)
    grow(bench, big)
    for label, figures in found.items():
        figures["rss_2x"] = settled_rss(bench, big, label)
        figures["growth"] = figures["rss_2x"] - figures["rss_1x"]
    return found


def finish(result: ScenarioResult, by_tool: dict[str, b.Figures], big: b.Big, n: int) -> None:
    b.compare(result, by_tool, FIGURES)
    result.notes.append(
        f"Cluster as set up: {n:,} unmanaged Deployments + {n:,} ConfigMaps of 4 KiB, plus each "
        f"tool's referenced workloads ({', '.join(f'{k}: {referenced(big, k):,}' for k in by_tool)}"
        f"); doubled: {n:,} more of each. A fresh process per size, settled, then the median of "
        "1 s RSS samples."
    )
