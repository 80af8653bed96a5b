"""idle: the tool settled on the big setup, then an idle window: RSS (samples and peak),
CPU (per-second samples and the whole window), and writes on the tools' kinds per minute
from the apiserver's counters, next to the same window without any tool."""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

from ..harness import Bench
from ..metrics import delta
from ..report import Row, ScenarioResult
from ..timing import cpu_percent, sampling
from ..tools import Operator, Reloader
from . import big as b

TITLE = "Idle on the big setup: memory, CPU, writes"
FIGURES = (
    ("rss", "idle RSS (median of 1 s samples)", "bytes"),
    ("peak", "peak RSS (VmHWM, start-up included)", "bytes"),
    ("anon", "  of the idle RSS: heap (RssAnon)", "bytes"),
    ("file", "  of the idle RSS: mapped code and libraries (RssFile)", "bytes"),
    ("cpu", "idle CPU (median of 1 s samples)", "%"),
    ("cpu_window", "idle CPU, whole window", "cpu-s"),
    ("writes", "writes/min on the tools' kinds while idle (apiserver)", "per-min"),
)


def rss_part(pid: int, key: str) -> float:
    """RssAnon or RssFile of a process, in bytes (/proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return math.nan


def measure(bench: Bench, big: b.Big, tool: Operator | Reloader) -> tuple[b.Figures, list[Row]]:
    b.settle(bench, tool, len(big.managed.get(tool.label, [])))
    before = bench.apiserver_requests()
    with sampling(tool) as samples:
        time.sleep(bench.sizes.idle_seconds)
    change = delta(bench.apiserver_requests(), before)
    minutes = (samples[-1][0] - samples[0][0]) / 60
    cpu = cpu_percent(samples)
    rss = [s[2] for s in samples]
    figures = {
        "rss": statistics.median(rss),
        "peak": tool.memory()["VmHWM"],
        "anon": rss_part(tool.pid, "RssAnon"),
        "file": rss_part(tool.pid, "RssFile"),
        "cpu": statistics.median(cpu),
        "cpu_window": samples[-1][1] - samples[0][1],
        "writes": b.tool_writes(change) / minutes,
    }
    rows = [
        Row.of(f"{tool.label}: CPU while idle (1 s samples)", cpu, "%"),
        Row.of(f"{tool.label}: RSS while idle (1 s samples)", rss, "bytes"),
    ]
    return figures, rows


def finish(result: ScenarioResult, big: b.Big, by_tool: dict[str, b.Figures]) -> None:
    b.compare(result, by_tool, FIGURES)
    minutes = big.baseline_seconds / 60 or 1.0
    baseline = sum(big.baseline_writes.get(k, 0) for k in b.TOOL_WRITES) / minutes
    result.rows.append(Row.single("same writes/min, window without any tool", baseline, "per-min"))
