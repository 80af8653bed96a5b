"""The big setup shared by the side-by-side scenarios: unmanaged Deployments (0 replicas) and
as many 4 KiB ConfigMaps, plus `managed` 1-replica workloads per tool, each referencing a
ConfigMap of its own (ours through a Rollout, Reloader's through its annotation). Both
tools watch the whole cluster; they run one after the other on the same objects."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import objects as o
from ..harness import Bench, spread
from ..kapi import Watch
from ..metrics import Samples, apiserver_writes, delta
from ..report import Compare, ScenarioResult
from ..tools import OPERATOR, RELOADER, Operator, Reloader

RELOADER_ANNOTATION = "configmap.reloader.stakater.com/reload"
QUIET_SECONDS, QUIET_CPU = 3.0, 0.02  # settled: under 2 % of a core for 3 s
#: Kinds the tools write: their writes while idle are counted on these.
TOOL_WRITES = (
    "PATCH deployments",
    "PUT deployments",
    "PATCH rollouts/status",
    "PATCH rollouts",
    "POST events",
    "PUT configmaps",
    "POST configmaps",
)


@dataclass
class Big:
    namespaces: list[str]
    #: tool label -> its managed (namespace, name): Deployment and ConfigMap share the name.
    managed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    burst: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    baseline_writes: dict[str, float] = field(default_factory=dict)
    baseline_seconds: float = 0.0

    def role(self, label: str, kind: str = "managed") -> str:
        return f"{kind}-{'op' if label == OPERATOR else 'rl'}"


def tools(bench: Bench) -> list[str]:
    return [OPERATOR, RELOADER] if bench.reloader_bin else [OPERATOR]


def start(
    bench: Bench, label: str, *args: str, wait: bool = True, name: str = ""
) -> Operator | Reloader:
    """A tool watching the whole cluster; ours restarts without debounce, like Reloader."""
    if label == OPERATOR:
        return bench.operator("--restart-debounce", "0", *args, name=name or "big", wait=wait)
    return bench.reloader(*args, name=name or "reloader", wait=wait)


def settle(bench: Bench, tool: Operator | Reloader, rollouts: int) -> None:
    """Until the tool is done with its start: ours with its queue drained, then both until
    their CPU use stays under QUIET_CPU for QUIET_SECONDS (the initial lists digested)."""
    if isinstance(tool, Operator):
        tool.wait_idle(rollouts, settle=bench.sizes.wait(2.0))
    quiet = bench.sizes.wait(QUIET_SECONDS)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        cpu0 = tool.cpu_seconds()
        time.sleep(quiet)
        if (tool.cpu_seconds() - cpu0) / quiet < QUIET_CPU:
            return
    raise TimeoutError(f"{tool.label} still busy after 600 s")


def workloads(
    big: Big, label: str, kind: str, items: list[tuple[str, str]], replicas: int
) -> list[tuple[str, dict[str, object]]]:
    """ConfigMap + Deployment (+ Rollout for ours) of each managed workload of a tool."""
    role, objects = big.role(label, kind), []
    for ns, name in items:
        refs = {} if label == OPERATOR else {RELOADER_ANNOTATION: name}
        objects += [
            (o.configmaps_path(ns), o.configmap(ns, name)),
            (
                o.deployments_path(ns),
                o.deployment(ns, name, "v1", replicas, role, annotations=refs),
            ),
        ]
        if label == OPERATOR:
            rollout = o.rollout(ns, name, name, tag="v1", configmaps=[name])
            objects.append((o.rollouts_path(ns), rollout))
    return objects


def setup(bench: Bench) -> Big:
    sizes = bench.sizes
    big = Big([f"bench-big-{i:02d}" for i in range(sizes.namespaces)])
    bench.namespaces(*big.namespaces)
    items: list[tuple[str, dict[str, object]]] = []
    for ns, name in spread("u", sizes.unmanaged, big.namespaces):
        items += [
            (o.deployments_path(ns), o.deployment(ns, name, "v1", 0, "unmanaged")),
            (o.configmaps_path(ns), o.configmap(ns, name, sizes.configmap_bytes, "unmanaged")),
        ]
    for label in tools(bench):
        prefix = "om" if label == OPERATOR else "rm"
        big.managed[label] = spread(prefix, sizes.managed, big.namespaces)
        items += workloads(big, label, "managed", big.managed[label], 1)
    bench.api.create_many(items, workers=8)
    bench.wait_deployments(
        sizes.unmanaged + sizes.managed * len(big.managed),
        f"{o.BENCH_LABEL} in (unmanaged,managed-op,managed-rl)",
    )
    _baseline(bench, big)
    return big


def _baseline(bench: Bench, big: Big) -> None:
    """Apiserver writes in a window without any tool (kwok heartbeats, leases...)."""
    time.sleep(bench.sizes.wait(5.0))
    before, t0 = bench.apiserver_requests(), time.monotonic()
    time.sleep(bench.sizes.idle_seconds)
    big.baseline_writes = apiserver_writes(delta(bench.apiserver_requests(), before))
    big.baseline_seconds = time.monotonic() - t0


def generations(watch: Watch) -> dict[tuple[str, str], int]:
    return {
        (obj["metadata"]["namespace"], obj["metadata"]["name"]): o.generation(obj)
        for obj in watch.snapshot()
    }


def edit(bench: Bench, ns: str, name: str, text: str) -> float:
    """PATCH a ConfigMap's data; the monotonic time just before sending."""
    t0 = time.monotonic()
    bench.api.patch(f"{o.configmaps_path(ns)}/{name}", {"data": {"config.txt": text}})
    return t0


def tool_writes(change: Samples) -> float:
    writes = apiserver_writes(change)
    return sum(writes.get(key, 0) for key in TOOL_WRITES)


Figures = dict[str, float]


def compare(
    result: ScenarioResult, by_tool: dict[str, Figures], figures: Sequence[tuple[str, str, str]]
) -> None:
    """Compare rows (ours, Reloader's, ratio) of `figures`: (key, label, unit) each."""
    ours, theirs = by_tool.get(OPERATOR, {}), by_tool.get(RELOADER)
    for key, label, unit in figures:
        if key in ours:
            other = None if theirs is None else theirs.get(key, math.nan)
            result.compare.append(Compare(label, unit, ours[key], other))
    result.extra["by_tool"] = by_tool
