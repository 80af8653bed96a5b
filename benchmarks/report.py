"""Results: rows of figures (median, p90, p99, n), side-by-side comparisons of the tools,
the JSON file and the readable table."""

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
    unit: str  # "s", "bytes", "count", "cpu-s", "%", "per-min", "ms CPU"
    n: int
    median: float
    p90: float
    p99: float
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @classmethod
    def of(cls, label: str, samples: Sequence[float], unit: str = "s", note: str = "") -> Row:
        values = [float(v) for v in samples]
        median = statistics.median(values) if values else math.nan
        return cls(
            label,
            unit,
            len(values),
            median,
            percentile(values, 90),
            percentile(values, 99),
            values,
            note,
        )

    @classmethod
    def single(cls, label: str, value: float, unit: str, n: int = 1, note: str = "") -> Row:
        """A total or a ratio: shown in the median column, percentiles left empty."""
        return cls(label, unit, n, float(value), math.nan, math.nan, [], note)


@dataclass
class Compare:
    """One figure for each tool, measured in the same run on the same cluster."""

    label: str
    unit: str
    ours: float
    theirs: float | None  # None: no Reloader binary given
    note: str = ""

    @property
    def ratio(self) -> float:
        """ours / theirs (below 1: we use less, or are faster)."""
        if self.theirs is None or not self.theirs or math.isnan(self.theirs):
            return math.nan
        return self.ours / self.theirs


@dataclass
class ScenarioResult:
    name: str
    title: str
    ok: bool = True
    error: str = ""
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    compare: list[Compare] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self, prefix: str) -> Row | None:
        return next((r for r in self.rows if r.label.startswith(prefix)), None)

    def compared(self, prefix: str) -> Compare | None:
        return next((c for c in self.compare if c.label.startswith(prefix)), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for item in (*data["rows"], *data["compare"]):
            for key, value in list(item.items()):
                if isinstance(value, float) and math.isnan(value):
                    item[key] = None
        for item, compare in zip(data["compare"], self.compare, strict=True):
            item["ratio"] = None if math.isnan(compare.ratio) else round(compare.ratio, 3)
        return data


def fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"  # noqa: RUF001
    formats = {
        "s": lambda v: f"{v * 1000:.0f} ms" if abs(v) < 10 else f"{v:.1f} s",
        "bytes": lambda v: f"{v / 2**20:.0f} MiB",
        "cpu-s": lambda v: f"{v:.2f} CPU-s",
        "%": lambda v: f"{v:.1f} %",
        "per-min": lambda v: f"{v:.1f} /min",
        "count": lambda v: f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}",
    }
    return formats[unit](value) if unit in formats else f"{value:.3g} {unit}"
