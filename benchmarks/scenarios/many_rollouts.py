"""rollouts-5000: many 1-replica Rollouts (5,000 in the full run; those of scale included):
created at once for Deployments already at their image (adopted, no workload writes) → all
Ready, then an operator restart → all confirmed; RSS and CPU throughout."""

from __future__ import annotations

import time

from .. import objects as o
from ..harness import Bench, spread
from ..metrics import operator_requests, writes
from ..report import Row, ScenarioResult
from ..timing import ReadyTracker
from ..tools import Operator
from .startup import one_start

TITLE = "Many Rollouts (1 replica each): adoption, memory, restart to all confirmed"
ROLE = "many"


def _workloads(bench: Bench, existing: int) -> list[tuple[str, str]]:
    names = [f"bench-scale-{i:02d}" for i in range(bench.sizes.namespaces)]
    bench.namespaces(*names)
    workloads = spread("x", bench.sizes.many_rollouts - existing, names)
    bench.api.create_many(
        [(o.deployments_path(ns), o.deployment(ns, n, "v1", role=ROLE)) for ns, n in workloads]
    )
    bench.wait_deployments(len(workloads), f"{o.BENCH_LABEL}={ROLE}")
    return workloads


def _adopt(bench: Bench, operator: Operator, workloads: list[tuple[str, str]]) -> list[Row]:
    total = bench.sizes.many_rollouts
    tracker = ReadyTracker(o.rollout_ready, total)
    watch = bench.watch(o.rollouts_path(), f"{o.BENCH_LABEL}=rollout", tracker.on_event)
    tracker.seed(watch)
    operator.wait_idle(0, settle=bench.sizes.wait(1.0))
    before, cpu0, t0 = operator.samples(), operator.cpu_seconds(), time.monotonic()
    bench.api.create_many(
        [(o.rollouts_path(ns), o.rollout(ns, n, n, tag="v1")) for ns, n in workloads]
    )
    t_ready = tracker.wait(1800, "Rollouts Ready")
    cpu = operator.cpu_seconds() - cpu0
    operator.wait_idle(total, settle=bench.sizes.wait(2.0))
    watch.stop()
    requests = operator_requests(before, operator.samples())
    new = len(workloads)
    return [
        Row.single(f"{new} Rollouts created at once → all {total} Ready", t_ready - t0, "s", new),
        Row.single("operator CPU per adopted Rollout", cpu / max(new, 1) * 1000, "ms CPU", new),
        Row.single(
            "workload writes during adoption (goal 0)",
            requests.get("patch deployments 2xx", 0),
            "count",
        ),
        Row.single(
            "operator writes per adopted Rollout", writes(requests) / max(new, 1), "count", new
        ),
        Row.single(
            f"operator RSS with {total} Rollouts, idle", operator.memory()["VmRSS"], "bytes"
        ),
    ]


def run(bench: Bench, result: ScenarioResult, operator: Operator | None) -> Operator:
    """With `operator` (scale ran), its Rollouts count towards the total."""
    existing = bench.sizes.scale_rollouts if operator is not None else 0
    workloads = _workloads(bench, existing)
    if operator is None:
        operator = bench.operator(name="many")
    result.rows += _adopt(bench, operator, workloads)
    total = bench.sizes.many_rollouts
    operator, figures = one_start(bench, operator, total, "many-startup")
    result.rows += [
        Row.single(f"restart: process start → all {total} Rollouts confirmed", figures[1], "s"),
        Row.single("restart: process start → /healthz", figures[0], "s"),
        Row.single("restart: operator CPU, start → confirmed (+3 s)", figures[2], "cpu-s"),
        Row.single("restart: operator peak RSS (VmHWM)", figures[3], "bytes"),
        Row.single("restart: status writes (goal 0)", figures[6], "count"),
    ]
    return operator
