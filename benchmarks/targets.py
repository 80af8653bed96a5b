"""The goals of issue 13, applied to this run's figures: reported, never asserted."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .report import Compare, Row, ScenarioResult, fmt

#: CPU per Rollout at 1,000 Rollouts before issue 13 (ms): the target is half of it.
CPU_PER_ROLLOUT_BEFORE = 19.7
#: Reloader's idle RSS on the big setup as measured for issue 13 (without a Reloader column).
RELOADER_IDLE_RSS = 98 * 2**20


def _value(item: Row | Compare | None, ours: bool = True) -> float:
    if item is None:
        return math.nan
    if isinstance(item, Compare):
        theirs = math.nan if item.theirs is None else item.theirs
        return item.ours if ours else theirs
    return item.median


class Targets:
    def __init__(self, results: dict[str, ScenarioResult]) -> None:
        self.results = results
        self.found: list[dict[str, Any]] = []

    def add(
        self, target: str, values: list[float], check: Callable[..., bool], show: Callable[..., str]
    ) -> None:
        if any(math.isnan(v) for v in values):
            self.found.append({"target": target, "measured": "not measured", "met": None})
        else:
            self.found.append({"target": target, "measured": show(*values), "met": check(*values)})

    def row(self, scenario: str, prefix: str) -> float:
        return _value(self.results[scenario].row(prefix))

    def ours(self, scenario: str, prefix: str) -> float:
        return _value(self.results[scenario].compared(prefix))

    def theirs(self, scenario: str, prefix: str) -> float:
        return _value(self.results[scenario].compared(prefix), ours=False)


def _side_by_side(t: Targets) -> None:
    rss, rl_rss = t.ours("idle", "idle RSS"), t.theirs("idle", "idle RSS")
    rl_rss = RELOADER_IDLE_RSS if math.isnan(rl_rss) else rl_rss
    t.add(
        "idle RSS ≤ Reloader's (big setup)",
        [rss, rl_rss],
        lambda a, b: a <= b,
        lambda a, b: f"{fmt(a, 'bytes')} vs {fmt(b, 'bytes')}",
    )
    t.add(
        "spawn → reacting at normal speed ≤ 2 s (big setup)",
        [t.ours("start-edits", "spawn → reacting")],
        lambda a: a <= 2,
        lambda a: fmt(a, "s"),
    )
    t.add(
        "no edit made during start-up dropped",
        [t.ours("start-edits", "edits made during")],
        lambda a: a == 0,
        lambda a: f"{a:.0f} dropped",
    )
    t.add(
        "no edit made during start-up restarted twice",
        [t.ours("start-edits", "restarts beyond one")],
        lambda a: a == 0,
        lambda a: f"{a:.0f} duplicates",
    )
    t.add(
        "RSS independent of cluster size (doubled: ≤ +10 %)",
        [
            t.ours("growth", "settled RSS, cluster as set up"),
            t.ours("growth", "settled RSS, cluster doubled"),
        ],
        lambda a, b: b <= 1.1 * a,
        lambda a, b: f"{fmt(a, 'bytes')} → {fmt(b, 'bytes')}",
    )
    for key in ("median", "p90"):
        t.add(
            f"edit → restart {key} ≤ Reloader's (keep the lead)",
            [
                t.ours("edit-latency", f"edit → restart, {key}"),
                t.theirs("edit-latency", f"edit → restart, {key}"),
            ],
            lambda a, b: a <= b,
            lambda a, b: f"{fmt(a, 's')} vs {fmt(b, 's')}",
        )
    t.add(
        "burst: all restarted no later than Reloader (keep the lead)",
        [t.ours("burst", "first edit sent"), t.theirs("burst", "first edit sent")],
        lambda a, b: a <= b,
        lambda a, b: f"{fmt(a, 's')} vs {fmt(b, 's')}",
    )
    t.add(
        "zero writes while idle (apiserver, big setup)",
        [t.ours("idle", "writes/min")],
        lambda a: a == 0,
        lambda a: fmt(a, "per-min"),
    )


def _ours(t: Targets) -> None:
    t.add(
        "≤ 4 API requests per rollout of a 3-replica Deployment",
        [t.row("requests", "requests per rollout, 3 replicas: all")],
        lambda a: a <= 4,
        lambda a: fmt(a, "count"),
    )
    t.add(
        "status writes of a large rollout bounded (≤ 10)",
        [t.row("requests", "status writes during one rollout")],
        lambda a: a <= 10,
        lambda a: fmt(a, "count"),
    )
    t.add(
        "N Rollouts all Ready ≤ 1.1 x N direct PATCHes (same run)",
        [t.row("scale", "ratio: all Ready")],
        lambda a: a <= 1.1,
        lambda a: f"{a:.2f} x",
    )
    t.add(
        f"CPU per Rollout halved (≤ {CPU_PER_ROLLOUT_BEFORE / 2:.2f} ms)",
        [t.row("scale", "operator CPU per Rollout")],
        lambda a: a <= CPU_PER_ROLLOUT_BEFORE / 2,
        lambda a: f"{a:.1f} ms",
    )
    t.add(
        "1 workload write per change (scale)",
        [t.row("scale", "workload writes per change")],
        lambda a: a == 1,
        lambda a: fmt(a, "count"),
    )
    t.add(
        "no status writes on a restart (startup)",
        [t.row("startup", "status writes per start")],
        lambda a: a == 0,
        lambda a: fmt(a, "count"),
    )


def evaluate(results: dict[str, ScenarioResult]) -> list[dict[str, Any]]:
    targets = Targets(results)
    _side_by_side(targets)
    _ours(targets)
    return targets.found
