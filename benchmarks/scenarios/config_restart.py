"""config-restart: ConfigMap edit → pod template restarted, with the default
--restart-debounce 1.0 and with 0 (a second operator process), next to `kubectl rollout
restart` (launched → its restartedAt annotation on a watch)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from .. import objects as o
from ..harness import Bench
from ..kapi import Watch
from ..metrics import operator_requests
from ..report import Row, ScenarioResult
from ..timing import Background, event
from ..tools import Operator

TITLE = "Config-change restart latency: ConfigMap edit → pod template restarted"
NS = "bench-restart"


@dataclass
class Reference:
    """`kubectl rollout restart` samples; its annotation has a 1 s resolution."""

    to_template: list[float] = field(default_factory=list)
    to_exit: list[float] = field(default_factory=list)
    last: float = 0.0


def _setup(bench: Bench) -> tuple[Watch, Watch]:
    bench.namespaces(NS)
    bench.api.create_many(
        [
            (o.configmaps_path(NS), o.configmap(NS, "target-config")),
            (o.deployments_path(NS), o.deployment(NS, "target", "v0")),
            (o.deployments_path(NS), o.deployment(NS, "reference", "v0")),
            (o.rollouts_path(NS), o.rollout(NS, "target", "target", configmaps=["target-config"])),
        ]
    )
    return bench.watch(o.deployments_path(NS)), bench.watch(o.rollouts_path(NS))


def _operator_rep(bench: Bench, watches: tuple[Watch, Watch], text: str) -> float:
    """One ConfigMap edit; seconds to the restart, after which the rollout completes."""
    deployments, rollouts = watches
    previous = o.template_annotation(deployments.current(NS, "target") or {}, o.RESTART_ANNOTATION)
    old_hash = ((rollouts.current(NS, "target") or {}).get("status") or {}).get("configHash")
    since_d, since_r = deployments.mark(), rollouts.mark()
    t0 = time.monotonic()
    bench.api.patch(f"{o.configmaps_path(NS)}/target-config", {"data": {"config.txt": text}})
    restarted = o.annotation_differs(o.RESTART_ANNOTATION, previous)
    t_template = deployments.wait(event(NS, "target", restarted), since_d, what="restart")[0]
    settled = o.ready_with_new_hash(old_hash)
    rollouts.wait(event(NS, "target", settled), since_r, what="Ready after the restart")
    deployments.wait_object(NS, "target", o.deployment_done)
    return t_template - t0


def _kubectl_rep(bench: Bench, deployments: Watch, ref: Reference, record: bool) -> None:
    wait = ref.last + 1.1 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    key = o.KUBECTL_RESTART_ANNOTATION
    previous = o.template_annotation(deployments.current(NS, "reference") or {}, key)
    since = deployments.mark()
    command = Background(
        bench.kubectl_command("rollout", "restart", "deployment/reference", "-n", NS),
        bench.cluster.env(),
    )
    changed = o.annotation_differs(key, previous)
    t_template = deployments.wait(event(NS, "reference", changed), since, what="kubectl")[0]
    t_exit = command.join()
    ref.last = command.started
    deployments.wait_object(NS, "reference", o.deployment_done)
    if record:
        ref.to_template.append(t_template - command.started)
        ref.to_exit.append(t_exit - command.started)


def _series(
    bench: Bench,
    operator: Operator,
    watches: tuple[Watch, Watch],
    label: str,
    *,
    ref: Reference,
    result: ScenarioResult,
) -> None:
    deployments, rollouts = watches
    rollouts.wait_object(NS, "target", o.rollout_ready, what="initial Rollout Ready")
    for name in ("target", "reference"):
        deployments.wait_object(NS, name, o.deployment_done)
    operator.wait_idle(0, settle=bench.sizes.wait(1.0))
    before, samples = operator.samples(), []
    for rep in range(bench.sizes.reps + 1):  # rep 0 warms up
        latency = _operator_rep(bench, watches, f"{label} {rep} {uuid.uuid4()}")
        if rep:
            samples.append(latency)
        _kubectl_rep(bench, deployments, ref, record=rep > 0)
    requests = operator_requests(before, operator.samples())
    result.rows += [
        Row.of(
            f"operator, --restart-debounce {label}: ConfigMap edit → template restarted", samples
        ),
        Row.single(
            f"operator, --restart-debounce {label}: workload patches per edit",
            requests.get("patch deployments 2xx", 0) / (bench.sizes.reps + 1),
            "count",
            bench.sizes.reps + 1,
        ),
    ]
    result.extra[f"operator_requests_debounce_{label.split(maxsplit=1)[0]}"] = requests


def run(bench: Bench, result: ScenarioResult, operator: Operator) -> Operator:
    """Default debounce with `operator`, then a new one with 0; returns the one running."""
    watches = _setup(bench)
    ref = Reference()
    _series(bench, operator, watches, "1.0 (default)", ref=ref, result=result)
    operator.stop()
    operator = bench.operator("--restart-debounce", "0", name="debounce-0")
    _series(bench, operator, watches, "0", ref=ref, result=result)
    result.rows += [
        Row.of(
            "reference: `kubectl rollout restart` launched → template restarted", ref.to_template
        ),
        Row.of("reference: `kubectl rollout restart` (subprocess round trip)", ref.to_exit),
    ]
    result.notes.append(
        "Operator: from our ConfigMap PATCH to the Deployment event with a new "
        "rollout-operator.dev/restart annotation. kubectl runs alternate with operator runs."
    )
    return operator
