"""Results: rows of figures (median, p99, n), the JSON file and the readable table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Row:
    """One figure: a distribution (samples) or a single value (n says what it covers)."""

    label: str
    unit: str  # "s", "bytes", "count", "cpu-s", "%", "per-min"
    n: int
    median: float
    p99: float
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @classmethod
    def of(cls, label: str, samples: Sequence[float], unit: str = "s", note: str = "") -> Row:
        values = [float(v) for v in samples]
        return cls(
            label,
            unit,
            len(values),
            statistics.median(values) if values else math.nan,
            percentile(values, 99),
            values,
            note,
        )

    @classmethod
    def single(cls, label: str, value: float, unit: str, n: int = 1, note: str = "") -> Row:
        """A total or a ratio: shown in the median column, p99 left empty."""
        return cls(label, unit, n, float(value), math.nan, [], note)


@dataclass
class ScenarioResult:
    number: int
    title: str
    ok: bool = True
    error: str = ""
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for row in data["rows"]:
            for key in ("median", "p99"):
                if isinstance(row[key], float) and math.isnan(row[key]):
                    row[key] = None
        return data


def fmt(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"  # noqa: RUF001
    if unit == "s":
        return f"{value * 1000:.0f} ms" if abs(value) < 10 else f"{value:.1f} s"
    if unit == "bytes":
        return f"{value / 2**20:.0f} MiB"
    if unit == "cpu-s":
        return f"{value:.2f} CPU-s"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "per-min":
        return f"{value:.1f} /min"
    if unit == "count":
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
    return f"{value:g} {unit}"


def markdown(
    meta: dict[str, Any], scenarios: Sequence[ScenarioResult], targets: Sequence[dict[str, Any]]
) -> str:
    machine, versions, config = meta["machine"], meta["versions"], meta["config"]
    lines = [
        f"# rollout-operator benchmarks, {meta['started']}{' (quick)' if meta['quick'] else ''}",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, "
        f"load average at start {machine['loadavg_start']}. "
        f"Kubernetes {versions['kubernetes']}, etcd {versions['etcd']}, kwok {versions['kwok']}, "
        f"Python {versions['python']}, kopf {versions['kopf']}, kubernetes client "
        f"{versions['kubernetes_client']}, operator {versions['operator']} "
        f"({versions['git']}).",
        "",
        f"Sizes: {config['reps']} repetitions; scale {config['scale_rollouts']} Rollouts over "
        f"{config['namespaces']} namespaces; quiet {config['unmanaged']} unmanaged Deployments + "
        f"{config['unmanaged']} ConfigMaps + {config['quiet_rollouts']} Rollouts, idle window "
        f"{config['idle_seconds']} s; pods Ready {config['pod_ready_delay_ms']} ms after binding. "
        "Medians and p99 (linear interpolation; with small n, p99 is close to the maximum).",
        "",
    ]
    for result in scenarios:
        status = "" if result.ok else " — **FAILED**"
        lines += [f"## {result.number}. {result.title}{status} ({result.seconds:.0f} s)", ""]
        if result.error:
            lines += ["```", result.error.strip()[-2000:], "```", ""]
        if result.rows:
            lines += ["| measurement | n | median | p99 |", "| --- | ---: | ---: | ---: |"]
            for row in result.rows:
                label = row.label + (f" ({row.note})" if row.note else "")
                median, p99 = fmt(row.median, row.unit), fmt(row.p99, row.unit)
                lines.append(f"| {label} | {row.n} | {median} | {p99} |")
            lines.append("")
        lines += [f"- {note}" for note in result.notes]
        if result.notes:
            lines.append("")
    if targets:
        lines += ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
        for target in targets:
            met = {True: "yes", False: "**no**", None: "n/a"}[target["met"]]
            lines.append(f"| {target['target']} | {target['measured']} | {met} |")
        lines.append("")
    return "\n".join(lines)
