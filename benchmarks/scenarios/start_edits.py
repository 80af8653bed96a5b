"""start-edits: a tool starts on the big setup while a managed ConfigMap is edited every
`edit_interval` seconds from the moment of the spawn (each workload once). Per edit: the
restart it caused (latency) or none (dropped). Reported: spawn → reacting at normal speed
(every edit from then on restarted within NORMAL), edits dropped, edits restarted late."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

from tests.e2e.kube import wait_for

from .. import objects as o
from ..harness import Bench
from ..kapi import Watch
from ..report import Row, ScenarioResult
from ..timing import ReadyTracker, event
from ..tools import Operator, Reloader
from . import big as b

TITLE = "Start-up on the big setup: spawn → reacting at normal speed; edits during start-up"
NORMAL = 1.0  # seconds: an edit restarted within this is "at normal speed"
FIGURES = (
    ("normal", "spawn → reacting at normal speed (every later edit restarted ≤ 1 s)", "s"),
    ("caught_up", "spawn → backlog cleared (the last late restart)", "s"),
    ("healthy", "spawn → health endpoint answers", "s"),
    ("dropped", "edits made during start-up and never restarted", "count"),
    ("late", "edits restarted later than 1 s", "count"),
    ("duplicates", "restarts beyond one per edit (duplicate workload writes)", "count"),
    ("edits", "edits made (one per managed workload)", "count"),
)


@dataclass
class Edit:
    ns: str
    name: str
    offset: float  # seconds after the spawn
    latency: float | None = None  # None: dropped


def _edit_all(
    bench: Bench, tool: Operator | Reloader, items: list[tuple[str, str]]
) -> tuple[list[Edit], float]:
    edits, healthy = [], float("nan")
    for i, (ns, name) in enumerate(items):
        pause = tool.started_at + i * bench.sizes.edit_interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        t = b.edit(bench, ns, name, f"start {uuid.uuid4()}")
        edits.append(Edit(ns, name, t - tool.started_at))
        if math.isnan(healthy) and tool.healthy():  # NaN until the first healthy answer
            healthy = time.monotonic() - tool.started_at
    return edits, healthy


def _outcomes(watch: Watch, since: int, gens: dict[tuple[str, str], int], edits: list[Edit],
              start: float, *, grace: float) -> None:  # fmt: skip
    """Each edit's restart: the first event after `since` in which its generation moved."""
    deadline = start + edits[-1].offset + grace
    for e in edits:
        restarted = event(e.ns, e.name, o.newer_than(gens[(e.ns, e.name)]))
        try:
            seen = watch.wait(restarted, since, max(deadline - time.monotonic(), 0.01))[0]
        except TimeoutError:
            continue
        e.latency = max(seen - start - e.offset, 0.0)


def duplicates(watch: Watch, since: int, gens: dict[tuple[str, str], int]) -> int:
    """Generation moves beyond the first per workload after `since` (each was edited once,
    so every further move is a second restart of the same edit)."""
    seen: dict[tuple[str, str], set[int]] = {}
    for _, kind, obj in watch.events[since:]:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if kind != "DELETED" and key in gens and o.generation(obj) > gens[key]:
            seen.setdefault(key, set()).add(o.generation(obj))
    return sum(len(moves) - 1 for moves in seen.values())


def normal_from(edits: list[Edit]) -> float:
    """Offset of the first edit after which every edit was restarted within NORMAL (NaN: none)."""
    found = float("nan")
    for e in reversed(edits):
        if e.latency is None or e.latency > NORMAL:
            break
        found = e.offset
    return found


def caught_up(edits: list[Edit]) -> float:
    """Seconds from the spawn to the last restart that came later than NORMAL (0: none)."""
    late = [e.offset + e.latency for e in edits if e.latency is not None and e.latency > NORMAL]
    return max(late, default=0.0)


def by_offset(label: str, edits: list[Edit], width: float = 5.0) -> list[Row]:
    """Latencies of the edits made in each `width`-second slice after the spawn."""
    rows = []
    for start in range(0, math.ceil(edits[-1].offset / width + 1e-9) or 1):
        chosen = [e for e in edits if start * width <= e.offset < (start + 1) * width]
        if chosen:
            done = [e.latency for e in chosen if e.latency is not None]
            span = f"{start * width:g} to {(start + 1) * width:g} s"
            dropped = len(chosen) - len(done)
            label_ = f"{label}: edits made {span} after the spawn → restart ({dropped} dropped)"
            rows.append(Row.of(label_, done))
    return rows


def prime(bench: Bench, big: b.Big, label: str) -> float:
    """A first, unmeasured run: ours adopts its Rollouts (first-sight baselines), Reloader
    warms its binary's pages. Returns spawn → all Rollouts Ready (ours; NaN for Reloader)."""
    tracker = ReadyTracker(o.rollout_ready, len(big.managed[label]))
    watch = bench.watch(o.rollouts_path(), f"{o.BENCH_LABEL}=rollout", tracker.on_event)
    tracker.seed(watch)  # none is Ready before the first run
    tool = b.start(bench, label, name="prime")
    if not isinstance(tool, Operator):
        time.sleep(bench.sizes.wait(5.0))
        tool.stop()
        watch.stop()
        return float("nan")
    t_ready = tracker.wait(900, "managed Rollouts Ready") - tool.started_at
    watch.stop()
    b.settle(bench, tool, len(big.managed[label]))
    tool.stop()
    return t_ready


def measure(bench: Bench, big: b.Big, label: str) -> tuple[b.Figures, list[Row]]:
    """Spawns the tool while editing, waits out the grace period, stops the tool."""
    watch = bench.watch(o.deployments_path(), f"{o.BENCH_LABEL}={big.role(label)}")
    gens, since = b.generations(watch), watch.mark()
    tool = b.start(bench, label, wait=False, name="start-edits")
    edits, healthy = _edit_all(bench, tool, big.managed[label])
    if math.isnan(healthy):
        wait_for(tool.healthy, timeout=120, interval=0.05, what=f"{label} health")
        healthy = time.monotonic() - tool.started_at  # to the polling
    _outcomes(watch, since, gens, edits, tool.started_at, grace=bench.sizes.grace)
    b.settle(bench, tool, 0)  # late second restarts land before they are counted
    watch.stop()
    tool.stop()
    figures = {
        "normal": normal_from(edits),
        "caught_up": caught_up(edits),
        "healthy": healthy,
        "dropped": sum(e.latency is None for e in edits),
        "late": sum(e.latency is not None and e.latency > NORMAL for e in edits),
        "duplicates": duplicates(watch, since, gens),
        "edits": len(edits),
    }
    all_edits = Row.of(f"{label}: edit → restart, every edit made during start-up",
                       [e.latency for e in edits if e.latency is not None])  # fmt: skip
    return figures, [all_edits, *by_offset(label, edits)]


def finish(
    result: ScenarioResult, by_tool: dict[str, b.Figures], interval: float, grace: float
) -> None:
    b.compare(result, by_tool, FIGURES)
    result.notes.append(
        f"One ConfigMap edit every {interval:g} s from the spawn, each on a different managed "
        f"workload; a restart is the Deployment's generation moving. 'Dropped': no restart "
        f"{grace:g} s after the last edit; a duplicate: the generation moving again after the "
        f"edit's restart. 'Normal speed': restarted within {NORMAL:g} s "
        "(none: the last edits were still late). Ours runs with --restart-debounce 0; its "
        "Rollouts were adopted by an earlier run (first-sight baselines are not restarts)."
    )
