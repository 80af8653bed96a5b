"""scale: N Rollouts created at once (each a new image for its 1-replica Deployment) → all
Ready, against the same N image changes sent as direct PATCHes without the operator, in
the same run. Also CPU per Rollout, peak RSS and the operator's requests per Rollout."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import objects as o
from ..harness import Bench, spread
from ..kapi import WatchEvent
from ..metrics import APISERVER_REQUESTS, apiserver_writes, delta, operator_requests, total
from ..report import Row, ScenarioResult
from ..timing import ReadyTracker
from ..tools import Operator

TITLE = "Scale: N Rollouts created at once, each changing its Deployment's image"
WORKLOADS = f"{o.BENCH_LABEL}=workload"


@dataclass
class Window:
    """The operator's run from the first create to all Ready."""

    t0: float
    t_created: float
    t_ready: float
    t_patched: float
    t_rolled_out: float
    cpu: float
    per_rollout: list[float]
    plane: dict[str, float]  # control-plane CPU seconds per process over the window


def _image_is(tag: str, done: bool, expected: int) -> ReadyTracker:
    def check(d: dict[str, Any]) -> bool:
        return o.container_image(d) == o.image(tag) and (not done or o.deployment_done(d))

    return ReadyTracker(check, expected)


def _both(first: ReadyTracker, second: ReadyTracker) -> Callable[[WatchEvent], None]:
    def on_event(event: WatchEvent) -> None:
        first.on_event(event)
        second.on_event(event)

    return on_event


def _plane(bench: Bench, before: dict[str, float]) -> dict[str, float]:
    after = bench.cluster.control_plane_cpu()
    return {name: after[name] - before.get(name, 0.0) for name in after}


def reference(
    bench: Bench, workloads: list[tuple[str, str]]
) -> tuple[float, float, dict[str, float]]:
    """N direct PATCHes (8 threads) → all rolled out: (total seconds, sending seconds,
    control-plane CPU per process)."""
    tracker = _image_is("v1b", True, len(workloads))
    bench.watch(o.deployments_path(), WORKLOADS, tracker.on_event)
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": o.CONTAINER, "image": o.image("v1b")}]}}
        }
    }
    plane0, t0 = bench.cluster.control_plane_cpu(), time.monotonic()
    sent = max(
        bench.api.patch_many([(f"{o.deployments_path(ns)}/{n}", patch) for ns, n in workloads])
    )
    done = tracker.wait(1800, "Deployments rolled out (reference)") - t0
    return done, sent - t0, _plane(bench, plane0)


def _operator_window(bench: Bench, operator: Operator, workloads: list[tuple[str, str]]) -> Window:
    n = len(workloads)
    rolled_out, patched = _image_is("v2", True, n), _image_is("v2", False, n)
    bench.watch(o.deployments_path(), WORKLOADS, _both(rolled_out, patched))
    ready = ReadyTracker(o.rollout_ready, n)
    bench.watch(o.rollouts_path(), f"{o.BENCH_LABEL}=rollout", ready.on_event)
    plane0 = bench.cluster.control_plane_cpu()
    with bench.cpu_profile(operator, "scale"):
        cpu0, t0 = operator.cpu_seconds(), time.monotonic()
        created = bench.api.create_many(
            [(o.rollouts_path(ns), o.rollout(ns, name, name, tag="v2")) for ns, name in workloads]
        )
        t_ready = ready.wait(1800, "Rollouts Ready")
    window = Window(
        t0,
        max(t for t, _ in created),
        t_ready,
        patched.wait(60, "patched"),
        rolled_out.wait(60, "rolled out"),
        operator.cpu_seconds() - cpu0,
        [],
        _plane(bench, plane0),
    )
    window.per_rollout = [
        ready.first[(b["metadata"]["namespace"], b["metadata"]["name"])] - t for t, b in created
    ]
    return window


def _plane_rows(w: Window, ref_plane: dict[str, float], n: int) -> list[Row]:
    """Control-plane CPU per change in each window: what the extra requests cost."""
    rows = []
    for label, plane in (("direct PATCHes", ref_plane), ("operator", w.plane)):
        rows.append(
            Row.single(
                f"control plane CPU per change, {label} window: all",
                sum(plane.values()) / n * 1000,
                "ms CPU",
                n,
            )
        )
        rows += [
            Row.single(
                f"control plane CPU per change, {label} window: {name}", cpu / n * 1000, "ms CPU", n
            )
            for name, cpu in sorted(plane.items())
        ]
    return rows


def _rows(n: int, w: Window, ref: tuple[float, float, dict[str, float]], peak: int) -> list[Row]:
    return [
        Row.single("operator: first Rollout create → all Rollouts Ready", w.t_ready - w.t0, "s", n),
        Row.single(f"reference: {n} direct PATCHes (8 threads) → all rolled out", ref[0], "s", n),
        Row.single(
            "ratio: all Ready / direct PATCHes rolled out (target ≤ 1.1)",
            (w.t_ready - w.t0) / ref[0],
            "count",
            n,
        ),
        Row.single("operator: first create → all templates patched", w.t_patched - w.t0, "s", n),
        Row.single("operator: first create → all rolled out", w.t_rolled_out - w.t0, "s", n),
        Row.single(f"reference: sending the {n} PATCHes", ref[1], "s", n),
        Row.single(f"creating the {n} Rollouts (8 client threads)", w.t_created - w.t0, "s", n),
        Row.of("per Rollout: created → Ready=True", w.per_rollout),
        Row.single("operator CPU, first create → all Ready", w.cpu, "cpu-s", n),
        Row.single("operator CPU per Rollout", w.cpu / n * 1000, "ms CPU", n),
        Row.single("operator peak RSS (VmHWM)", peak, "bytes"),
    ]


def run(bench: Bench, result: ScenarioResult) -> Operator:
    """Leaves the operator running (startup restarts it) with N Succeeded Rollouts."""
    n = bench.sizes.scale_rollouts
    names = [f"bench-scale-{i:02d}" for i in range(bench.sizes.namespaces)]
    bench.namespaces(*names)
    workloads = spread("w", n, names)
    bench.api.create_many(
        [(o.deployments_path(ns), o.deployment(ns, w, "v1")) for ns, w in workloads]
    )
    bench.wait_deployments(n, WORKLOADS)
    ref = reference(bench, workloads)
    operator = bench.operator(name="scale")
    operator.wait_idle(0, settle=bench.sizes.wait(1.0))
    m0, a0 = operator.samples(), bench.apiserver_requests()
    window = _operator_window(bench, operator, workloads)
    operator.wait_idle(n, settle=bench.sizes.wait(2.0))
    change = delta(bench.apiserver_requests(), a0)
    requests = operator_requests(m0, operator.samples())
    result.rows += _rows(n, window, ref, operator.memory()["VmHWM"])
    result.rows += _plane_rows(window, ref[2], n)
    result.rows += [
        Row.single(f"operator requests per Rollout: {k}", v / n, "count", n)
        for k, v in requests.items()
    ]
    result.rows.append(
        Row.single("operator requests per Rollout: all", sum(requests.values()) / n, "count", n)
    )
    writes = apiserver_writes(change)
    result.rows += [
        Row.single(
            "workload writes per change (apiserver PATCH deployments)",
            writes.get("PATCH deployments", 0) / n,
            "count",
            n,
        ),
        Row.single(
            "apiserver GET deployments per Rollout",
            total(change, APISERVER_REQUESTS, verb="GET", resource="deployments", subresource="")
            / n,
            "count",
            n,
        ),
    ]
    result.extra.update(operator_requests=requests, apiserver_writes=writes)
    return operator
