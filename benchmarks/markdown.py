"""The readable report (also printed): header, one section per scenario, the targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .report import Compare, Row, ScenarioResult, fmt


def header(meta: dict[str, Any]) -> list[str]:
    machine, versions, config = meta["machine"], meta["versions"], meta["config"]
    reloader = versions.get("reloader") or "not given (no Reloader column)"
    return [
        f"# rollout-operator benchmarks, {meta['started']}{' (quick)' if meta['quick'] else ''}",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, "
        f"load average at start {machine['loadavg_start']}. Kubernetes "
        f"{versions['kubernetes']}, etcd {versions['etcd']}, kwok {versions['kwok']}, Python "
        f"{versions['python']}, kopf {versions['kopf']}, operator {versions['operator']} "
        f"({versions['git']}). Reloader: {reloader}.",
        "",
        "Sizes: " + ", ".join(f"{k} {v}" for k, v in config.items() if k != "cache_root") + ".",
        "Medians, p90 and p99 (linear interpolation; with small n, p99 is close to the "
        "maximum). Ratios are ours / Reloader's, both measured in this run on this cluster.",
        "",
    ]


def _rows(rows: Sequence[Row]) -> list[str]:
    lines = ["| measurement | n | median | p90 | p99 |", "| --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        label = row.label + (f" ({row.note})" if row.note else "")
        cells = (fmt(v, row.unit) for v in (row.median, row.p90, row.p99))
        lines.append(f"| {label} | {row.n} | {' | '.join(cells)} |")
    return [*lines, ""]


def _compare(items: Sequence[Compare]) -> list[str]:
    lines = [
        "| measurement | rollout-operator | Reloader | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for item in items:
        label = item.label + (f" ({item.note})" if item.note else "")
        ratio = "–" if math.isnan(item.ratio) else f"{item.ratio:.2f}"  # noqa: RUF001
        lines.append(
            f"| {label} | {fmt(item.ours, item.unit)} | {fmt(item.theirs, item.unit)} | {ratio} |"
        )
    return [*lines, ""]


def section(result: ScenarioResult) -> list[str]:
    empty = result.ok and not (result.rows or result.compare)
    status = " — not run (interrupted, or needs a scenario that did not run)" if empty else ""
    status = status if result.ok else " — **FAILED**"
    lines = [f"## {result.name}: {result.title}{status} ({result.seconds:.0f} s)", ""]
    if result.error:
        lines += ["```", result.error.strip()[-2000:], "```", ""]
    if result.compare:
        lines += _compare(result.compare)
    if result.rows:
        lines += _rows(result.rows)
    lines += [f"- {note}" for note in result.notes]
    return [*lines, ""] if result.notes else lines


def markdown(
    meta: dict[str, Any], scenarios: Sequence[ScenarioResult], targets: Sequence[dict[str, Any]]
) -> str:
    lines = header(meta)
    for result in scenarios:
        lines += section(result)
    if targets:
        lines += ["## Targets (issue 13)", "", "| target | measured | met |", "| --- | --- | --- |"]
        for target in targets:
            met = {True: "yes", False: "**no**", None: "n/a"}[target["met"]]
            lines.append(f"| {target['target']} | {target['measured']} | {met} |")
        lines.append("")
    return "\n".join(lines)
