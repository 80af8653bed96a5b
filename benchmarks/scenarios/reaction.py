"""reaction: Rollout spec edit → workload pod template updated; workload done → Rollout Ready.

Side by side on an unmanaged Deployment in the same namespace: `kubectl patch` (subprocess
round trip), a bare PATCH and its watch event (the floor for any watch-driven controller),
and `kubectl rollout status` started the moment the template changed."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from .. import objects as o
from ..harness import Bench
from ..kapi import STRATEGIC_MERGE_PATCH, Watch
from ..metrics import operator_requests
from ..report import Row, ScenarioResult
from ..timing import Background, event, run_timed
from ..tools import Operator

TITLE = "Reaction latency and completion detection (1 replica)"
NS = "bench-latency"


@dataclass
class Timings:
    reaction: list[float] = field(default_factory=list)
    operator_lag: list[float] = field(default_factory=list)
    kubectl_lag: list[float] = field(default_factory=list)
    spec_to_ready: list[float] = field(default_factory=list)
    kubectl_patch: list[float] = field(default_factory=list)
    client_seen: list[float] = field(default_factory=list)


def _template_patch(image: str) -> dict[str, object]:
    return {"spec": {"template": {"spec": {"containers": [{"name": o.CONTAINER, "image": image}]}}}}


def _operator_rep(
    bench: Bench, watches: tuple[Watch, Watch], tag: str, out: Timings | None
) -> None:
    deployments, rollouts = watches
    since_d, since_r = deployments.mark(), rollouts.mark()
    new_image = o.image(tag)
    t0 = time.monotonic()
    patch = {"spec": {"containers": [{"name": o.CONTAINER, "tag": tag}]}}
    gen = bench.api.patch(f"{o.rollouts_path(NS)}/managed", patch)["metadata"]["generation"]
    has_image = o.has_image(new_image)
    t_template = deployments.wait(event(NS, "managed", has_image), since_d)[0]
    status = Background(
        bench.kubectl_command(
            "rollout", "status", "deployment/managed", "-n", NS, "--timeout=120s"
        ),
        bench.cluster.env(),
    )
    done = o.both(has_image, o.deployment_done)
    t_done = deployments.wait(event(NS, "managed", done), since_d, what="rolled out")[0]
    ready = o.ready_at(gen)
    t_ready = rollouts.wait(event(NS, "managed", ready), since_r, what="Rollout Ready")[0]
    t_exit = status.join()
    if out is not None:
        out.reaction.append(t_template - t0)
        out.operator_lag.append(t_ready - t_done)
        out.kubectl_lag.append(t_exit - t_done)
        out.spec_to_ready.append(t_ready - t0)


def _reference_rep(bench: Bench, deployments: Watch, rep: int, out: Timings | None) -> None:
    ref_image = o.image(f"k{rep}")
    since = deployments.mark()
    command = bench.kubectl_command(
        "patch",
        "deployment",
        "reference",
        "-n",
        NS,
        "--type",
        "strategic",
        "-p",
        json.dumps(_template_patch(ref_image)),
    )
    start, end, _ = run_timed(command, bench.cluster.env())
    deployments.wait(event(NS, "reference", o.has_image(ref_image)), since)
    deployments.wait_object(NS, "reference", o.deployment_done)
    ref_image = o.image(f"p{rep}")
    since = deployments.mark()
    t0 = time.monotonic()
    bench.api.patch(
        f"{o.deployments_path(NS)}/reference", _template_patch(ref_image), STRATEGIC_MERGE_PATCH
    )
    seen = deployments.wait(event(NS, "reference", o.has_image(ref_image)), since)[0]
    deployments.wait_object(NS, "reference", o.deployment_done)
    if out is not None:
        out.kubectl_patch.append(end - start)
        out.client_seen.append(seen - t0)


def _setup(bench: Bench) -> tuple[Watch, Watch]:
    bench.namespaces(NS)
    bench.api.create_many(
        [
            (o.deployments_path(NS), o.deployment(NS, "managed", "v0")),
            (o.deployments_path(NS), o.deployment(NS, "reference", "v0")),
            (o.rollouts_path(NS), o.rollout(NS, "managed", "managed", tag="v0")),
        ]
    )
    deployments = bench.watch(o.deployments_path(NS))
    rollouts = bench.watch(o.rollouts_path(NS))
    rollouts.wait_object(NS, "managed", o.rollout_ready, what="initial Rollout Ready")
    deployments.wait_object(NS, "reference", o.deployment_done)
    return deployments, rollouts


def run(bench: Bench, result: ScenarioResult, operator: Operator) -> None:
    watches = _setup(bench)
    out = Timings()
    before = operator.samples()
    for rep in range(bench.sizes.reps + 1):  # rep 0 warms up caches and connections
        _operator_rep(bench, watches, f"r{rep}", out if rep else None)
        _reference_rep(bench, watches[0], rep, out if rep else None)
    requests = operator_requests(before, operator.samples())
    result.rows += [
        Row.of("operator: Rollout spec edit → Deployment pod template updated", out.reaction),
        Row.of("reference: `kubectl patch deployment` (subprocess round trip)", out.kubectl_patch),
        Row.of("reference: bare PATCH → seen on a watch (the floor)", out.client_seen),
        Row.single(
            "operator workload patches per spec change",
            requests.get("patch deployments 2xx", 0) / (bench.sizes.reps + 1),
            "count",
            bench.sizes.reps + 1,
        ),
        Row.of(
            "operator: Deployment done → Rollout Ready=True at its generation", out.operator_lag
        ),
        Row.of("reference: Deployment done → `kubectl rollout status` exited", out.kubectl_lag),
        Row.of("operator: Rollout spec edit → Ready=True (whole rollout)", out.spec_to_ready),
    ]
    result.notes.append(
        "'Deployment done' is the first watch event on which kubectl's success condition holds "
        "for the new template; `kubectl rollout status` starts when the template changed."
    )
    result.extra["operator_requests"] = requests
