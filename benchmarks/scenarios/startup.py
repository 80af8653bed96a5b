"""startup: the operator restarted with N Rollouts already Succeeded (those of scale):
spawn → /healthz, spawn → confirmed (queue empty, ≥ N reconciles, none for 3 s), CPU, peak
RSS, GETs, and writes (a correct start writes nothing)."""

from __future__ import annotations

import time

from ..harness import Bench
from ..metrics import APISERVER_REQUESTS, delta, operator_requests, total
from ..report import Row, ScenarioResult
from ..tools import Operator

TITLE = "Start-up: operator restart with N Rollouts already Succeeded"
FIGURES = (
    ("process start → /healthz 200", "s"),
    ("process start → all Rollouts reconciled, queue empty", "s"),
    ("operator CPU, process start → confirmed (+3 s)", "cpu-s"),
    ("operator peak RSS (VmHWM)", "bytes"),
    ("reconciles per start", "count"),
    ("operator GETs per start", "count"),
    ("status writes per start (own metrics)", "count"),
    ("apiserver PATCH rollouts per start", "count"),
    ("apiserver PATCH deployments per start", "count"),
)


def one_start(bench: Bench, operator: Operator, n: int, name: str) -> tuple[Operator, list[float]]:
    """Restart the operator; the FIGURES of that start, and the new process."""
    operator.stop()
    time.sleep(bench.sizes.wait(1.0))
    api0 = bench.apiserver_requests()
    operator = bench.operator(name=name)  # returns once /healthz answers
    t_health = time.monotonic()
    t_confirmed = operator.wait_idle(n, settle=bench.sizes.wait(3.0))
    samples = operator.samples()
    change = delta(bench.apiserver_requests(), api0)
    requests = operator_requests({}, samples)
    return operator, [
        t_health - operator.started_at,
        t_confirmed - operator.started_at,
        operator.cpu_seconds(),
        operator.memory()["VmHWM"],
        total(samples, "rollout_operator_reconciles_total"),
        sum(v for k, v in requests.items() if k.startswith("get ")),
        requests.get("patch rollouts/status 2xx", 0),
        total(change, APISERVER_REQUESTS, verb="PATCH", resource="rollouts"),
        total(change, APISERVER_REQUESTS, verb="PATCH", resource="deployments"),
    ]


def run(bench: Bench, result: ScenarioResult, operator: Operator, n: int) -> Operator:
    columns: list[list[float]] = [[] for _ in FIGURES]
    for _ in range(bench.sizes.startup_reps):
        operator, figures = one_start(bench, operator, n, "startup")
        for column, value in zip(columns, figures, strict=True):
            column.append(value)
    result.rows += [
        Row.of(label, column, unit) for (label, unit), column in zip(FIGURES, columns, strict=True)
    ]
    result.notes.append(
        "Confirmed: rollout_operator_queue_depth 0, rollout_operator_reconciles_total ≥ N and "
        "unchanged for 3 s (polled every 0.1 s; the time is when it last moved)."
    )
    return operator
