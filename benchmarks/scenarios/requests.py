"""requests: the operator's API requests per rollout of a 3-replica Deployment (by verb and
resource, from rollout_operator_api_request_duration_seconds_count), and its status writes
during one rollout of a large Deployment (coalesced progress, transitions kept)."""

from __future__ import annotations

from .. import objects as o
from ..harness import Bench
from ..kapi import Watch
from ..metrics import operator_requests, writes
from ..report import Row, ScenarioResult
from ..timing import event
from ..tools import Operator

TITLE = "API requests per rollout (3 replicas) and status writes of a large rollout"
NS = "bench-requests"


def _rollout(
    bench: Bench, operator: Operator, watch: Watch, name: str, tag: str
) -> dict[str, float]:
    """One image change of Rollout `name` to Ready; the operator's requests meanwhile."""
    operator.wait_idle(0, settle=bench.sizes.wait(1.0))
    before = operator.samples()
    since = watch.mark()
    patch = {"spec": {"containers": [{"name": o.CONTAINER, "tag": tag}]}}
    gen = bench.api.patch(f"{o.rollouts_path(NS)}/{name}", patch)["metadata"]["generation"]
    ready = o.ready_at(gen)
    watch.wait(event(NS, name, ready), since, timeout=600, what=f"{name} Ready")
    # late writes (events, status) are counted too
    operator.wait_idle(0, settle=bench.sizes.wait(2.0))
    return operator_requests(before, operator.samples(), codes=False)


def _setup(bench: Bench, big: int) -> Watch:
    bench.namespaces(NS)
    bench.api.create_many(
        [
            (o.deployments_path(NS), o.deployment(NS, "three", "v0", replicas=3)),
            (o.deployments_path(NS), o.deployment(NS, "big", "v0", replicas=big, surge="25%")),
            (o.rollouts_path(NS), o.rollout(NS, "three", "three", tag="v0")),
            (o.rollouts_path(NS), o.rollout(NS, "big", "big", tag="v0")),
        ]
    )
    watch = bench.watch(o.rollouts_path(NS))
    for name in ("three", "big"):
        watch.wait_object(NS, name, o.rollout_ready, timeout=600, what=f"{name} adopted")
    return watch


def run(bench: Bench, result: ScenarioResult, operator: Operator) -> None:
    reps, big = max(3, bench.sizes.reps // 5), bench.sizes.big_replicas
    watch = _setup(bench, big)
    totals: dict[str, float] = {}
    per_rollout: list[float] = []
    for rep in range(reps):
        requests = _rollout(bench, operator, watch, "three", f"t{rep}")
        per_rollout.append(sum(requests.values()))
        for key, value in requests.items():
            totals[key] = totals.get(key, 0) + value
    result.rows.append(Row.of("requests per rollout, 3 replicas: all", per_rollout, "count"))
    result.rows += [
        Row.single(f"requests per rollout, 3 replicas: {key}", value / reps, "count", reps)
        for key, value in totals.items()
    ]
    big_requests = _rollout(bench, operator, watch, "big", "b1")
    result.rows += [
        Row.single(
            f"status writes during one rollout of {big} replicas",
            big_requests.get("patch rollouts/status", 0),
            "count",
        ),
        Row.single(
            f"all writes during one rollout of {big} replicas", writes(big_requests), "count"
        ),
    ]
    result.extra.update(requests_three=totals, requests_big=big_requests, reps=reps)
    result.notes.append(
        f"{reps} image changes of a 3-replica Deployment (maxSurge 1), one at a time, each from "
        f"the Rollout PATCH until the operator's queue stayed empty for 2 s after Ready; then "
        f"one of a {big}-replica Deployment (maxSurge/maxUnavailable 25 %). Targets: ≤ 4 "
        "requests per rollout; status writes bounded, not one per replica."
    )
