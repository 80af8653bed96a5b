"""namespaced: a tool watching one namespace of the big setup (a tenth of its objects):
start → settled, RSS and CPU over the idle window."""

from __future__ import annotations

import time

from ..harness import Bench
from ..report import ScenarioResult
from ..timing import sampling
from ..tools import OPERATOR
from . import big as b

TITLE = "Namespaced install: one namespace of the big setup watched"
FIGURES = (
    ("settled", "spawn → settled (ours: Rollouts confirmed; CPU quiet for 3 s)", "s"),
    ("rss", "RSS after the idle window", "bytes"),
    ("peak", "peak RSS (VmHWM)", "bytes"),
    ("cpu", "CPU over the idle window", "cpu-s"),
)


def measure(bench: Bench, big: b.Big, label: str) -> b.Figures:
    ns = big.namespaces[0]
    args = ("--namespace", ns) if label == OPERATOR else ("--namespaces", ns)
    tool = b.start(bench, label, *args, name="namespaced")
    mine = [item for item in big.managed[label] if item[0] == ns]
    b.settle(bench, tool, len(mine))
    settled = time.monotonic() - tool.started_at  # includes the quiet 3 s
    with sampling(tool) as samples:
        time.sleep(bench.sizes.idle_seconds)
    memory = tool.memory()
    tool.stop()
    return {
        "settled": settled,
        "rss": memory["VmRSS"],
        "peak": memory["VmHWM"],
        "cpu": samples[-1][1] - samples[0][1],
    }


def finish(result: ScenarioResult, by_tool: dict[str, b.Figures], ns: str) -> None:
    b.compare(result, by_tool, FIGURES)
    result.notes.append(
        f"Namespace {ns}. Ours settles when its queue stayed empty for 2 s after its "
        "Rollouts were reconciled, then both until their CPU use stayed under 2 % for 3 s."
    )
