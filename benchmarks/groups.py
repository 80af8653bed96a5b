"""The three groups of scenarios, each on a fresh cluster, in the order they run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .harness import Bench
from .report import Row
from .runner import Runner
from .scenarios import big as b
from .scenarios import (
    burst,
    config_restart,
    edit_latency,
    growth,
    ha,
    idle,
    in_group,
    many_rollouts,
    namespaced,
    profile,
    reaction,
    requests,
    scale,
    start_edits,
    startup,
)
from .tools import OPERATOR, Operator, Reloader


def run_small(bench: Bench, runner: Runner) -> None:
    with runner.scenario("reaction", "config-restart", "requests", what="setup (small)"):
        bench.fresh_cluster(3)
        operator = bench.operator(name="default")
    if runner.wanted("reaction") and runner.ok("reaction"):
        with runner.scenario("reaction"):
            reaction.run(bench, runner.results["reaction"], operator)
    if runner.wanted("config-restart") and runner.ok("config-restart"):
        with runner.scenario("config-restart"):
            operator = config_restart.run(bench, runner.results["config-restart"], operator)
    if runner.wanted("requests") and runner.ok("requests"):
        with runner.scenario("requests"):
            requests.run(bench, runner.results["requests"], operator)
    bench.close()


def run_scale(bench: Bench, runner: Runner) -> None:
    sizes = bench.sizes
    # Room for every pod, the rolling update's surge included (kwok nodes take 110 pods).
    pods = max(2 * sizes.scale_rollouts, sizes.scale_rollouts + sizes.many_rollouts)
    operator: Operator | None = None
    if runner.wanted("scale", "startup"):
        with runner.scenario("scale", "startup", "rollouts-5000", what="scale (setup + run)"):
            bench.fresh_cluster(max(3, math.ceil(pods / 100) + 1))
            operator = scale.run(bench, runner.results["scale"])
    if runner.wanted("startup") and operator is not None:
        with runner.scenario("startup"):
            operator = startup.run(bench, runner.results["startup"], operator, sizes.scale_rollouts)
    if runner.wanted("rollouts-5000"):
        with runner.scenario("rollouts-5000"):
            if operator is None:
                bench.fresh_cluster(max(3, math.ceil(sizes.many_rollouts / 100) + 1))
            many_rollouts.run(bench, runner.results["rollouts-5000"], operator)
    bench.close()


@dataclass
class Found:
    """Figures per tool of the side-by-side scenarios, compared once both tools ran."""

    prime: dict[str, float] = field(default_factory=dict)
    figures: dict[str, dict[str, b.Figures]] = field(
        default_factory=lambda: {name: {} for name in in_group("big")}
    )


def _per_tool(bench: Bench, runner: Runner, big: b.Big, label: str, found: Found) -> None:
    """idle and edit-latency on one settled process; then start-edits on a new one."""
    if runner.wanted("start-edits", "idle", "edit-latency"):
        with runner.scenario("start-edits", "idle", "edit-latency", what=f"prime ({label})"):
            found.prime[label] = start_edits.prime(bench, big, label)
    tool: Operator | Reloader | None = None
    for name, module in (("idle", idle), ("edit-latency", edit_latency)):
        if runner.wanted(name):
            with runner.scenario(name, what=f"{name} ({label})"):
                tool = tool or b.start(bench, label, name=name)
                found.figures[name][label], rows = module.measure(bench, big, tool)
                runner.results[name].rows += rows
    bench.stop_tools()
    if runner.wanted("start-edits"):
        with runner.scenario("start-edits", what=f"start-edits ({label})"):
            found.figures["start-edits"][label], rows = start_edits.measure(bench, big, label)
            runner.results["start-edits"].rows += rows


def _others(bench: Bench, runner: Runner, big: b.Big, found: Found) -> None:
    """burst, ha and namespaced, one tool at a time."""
    if runner.wanted("burst"):
        with runner.scenario("burst", what="burst setup"):
            burst.setup(bench, big)
    mode: list[str] = []
    for label in b.tools(bench):
        if runner.wanted("burst") and runner.ok("burst"):
            with runner.scenario("burst", what=f"burst ({label})"):
                found.figures["burst"][label], rows = burst.measure(bench, big, label)
                runner.results["burst"].rows += rows
        if runner.wanted("ha"):
            with runner.scenario("ha", what=f"ha ({label})"):
                flags: list[str] = []
                if label == OPERATOR:
                    flags, described = ha.operator_mode(bench)
                    mode.append(described)
                found.figures["ha"][label] = ha.measure(bench, big, label, flags)
        if runner.wanted("namespaced"):
            with runner.scenario("namespaced", what=f"namespaced ({label})"):
                found.figures["namespaced"][label] = namespaced.measure(bench, big, label)
        bench.stop_tools()
    _finish_others(bench, runner, big, found, mode)


def _finish_others(bench: Bench, runner: Runner, big: b.Big, found: Found, mode: list[str]) -> None:
    results, figures = runner.results, found.figures
    if figures["burst"]:
        burst.finish(results["burst"], figures["burst"], bench.sizes.burst)
    if figures["ha"]:
        ha.finish(results["ha"], figures["ha"], mode[0] if mode else "?")
    if figures["namespaced"]:
        namespaced.finish(results["namespaced"], figures["namespaced"], big.namespaces[0])


def _finish_side_by_side(bench: Bench, runner: Runner, big: b.Big, found: Found) -> None:
    results, figures = runner.results, found.figures
    if figures["start-edits"]:
        start_edits.finish(
            results["start-edits"],
            figures["start-edits"],
            bench.sizes.edit_interval,
            bench.sizes.grace,
        )
        ready = found.prime.get(OPERATOR, math.nan)
        results["start-edits"].rows.append(
            Row.single(
                "ours, first start: spawn → all managed Rollouts adopted",
                ready,
                "s",
                len(big.managed[OPERATOR]),
            )
        )
    if figures["idle"]:
        idle.finish(results["idle"], big, figures["idle"])
    if figures["edit-latency"]:
        edit_latency.finish(results["edit-latency"], figures["edit-latency"])


def run_big(bench: Bench, runner: Runner) -> None:
    names = in_group("big")
    with runner.scenario(*names, what="big setup"):
        bench.fresh_cluster(3)
        big = b.setup(bench)
    if not runner.ok(names[0]):
        return
    found = Found()
    for label in b.tools(bench):
        _per_tool(bench, runner, big, label, found)
    _finish_side_by_side(bench, runner, big, found)
    if runner.wanted("profile"):
        with runner.scenario("profile"):
            profile.run(bench, runner.results["profile"], big)
        bench.stop_tools()
    _others(bench, runner, big, found)
    if runner.wanted("growth"):  # last: it doubles the cluster
        with runner.scenario("growth"):
            by_tool = growth.measure(bench, big)
            growth.finish(runner.results["growth"], by_tool, big, bench.sizes.unmanaged)
    bench.close()
