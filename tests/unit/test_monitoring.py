"""The shipped alerts and dashboard (monitoring/) query only metrics the operator exports.

The exported names come from the operator's own Prometheus registry (import
rollout_operator.metrics and collect it), so renaming or dropping a metric fails here
instead of silently breaking someone's alert. Every identifier in a PromQL expression that
is not a function, keyword or label is taken as a metric name, so a query on a metric from
elsewhere (``up``, ``kube_*``) fails too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml
from prometheus_client.registry import CollectorRegistry

from rollout_operator import metrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "monitoring" / "prometheusrule.yaml"
DASHBOARD = REPO / "monitoring" / "grafana-dashboard.json"
OBSERVABILITY_DOC = REPO / "docs" / "observability.md"
PHASES = {"Progressing", "Succeeded", "Failed", "Blocked", "RolledBack"}  # CONTRACT.md §6

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_:][\w:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*$")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (without evaluating it)."""
    text = _VARIABLE.sub("", _STRING.sub('""', expr))
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges, subqueries
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        rest = text[match.end() :].lstrip()
        if word.lower() in _KEYWORDS or rest.startswith("("):
            continue  # an operator, or a function / aggregation called here
        names.add(word)
    return names


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry can expose (counters' _total, histograms' parts)."""
    names: set[str] = set()
    for family in registry.collect():
        match family.type:
            case "counter":
                names.add(f"{family.name}_total")
            case "histogram":
                names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
            case "summary":
                names.update({family.name, f"{family.name}_sum", f"{family.name}_count"})
            case "info":
                names.add(f"{family.name}_info")
            case _:
                names.add(family.name)
    return names


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """The registry's metrics, plus those the operator registers once it runs: the
    per-Rollout collector (metrics.RolloutCollector, computed at scrape time)."""
    registry = getattr(metrics, "REGISTRY", prometheus_client.REGISTRY)
    assert isinstance(registry, CollectorRegistry)
    names = exported_names(registry)
    collector = getattr(metrics, "RolloutCollector", None)
    if collector is not None:
        at_runtime = CollectorRegistry()
        at_runtime.register(collector(lambda: []))
        names |= exported_names(at_runtime)
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    assert document["kind"] == "PrometheusRule"
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def _targets(panels: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in panels:
        yield from _targets(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel["title"], target


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        (f"panel {title!r}", target["expr"]) for title, target in _targets(dashboard["panels"])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        found = _LABEL_VALUES.match(text)
        assert found, f"variable {variable['name']}: only label_values(metric, label) is checked"
        queries.append((f"variable {variable['name']!r}", found.group(1)))
    return queries


def all_queries() -> list[tuple[str, str]]:
    return [(f"alert {r['alert']}", r["expr"]) for r in rules()] + dashboard_queries()


def test_the_extractor_sees_every_metric_and_nothing_else() -> None:
    expr = (
        'sum by (le, kind) (rate(a_bucket{job=~"$job", phase="x"}[$__rate_interval])) > 0'
        " and on (job, instance) group_left () (b == 1) or vector(0) unless absent(up offset 5m)"
    )
    assert metric_names(expr) == {"a_bucket", "b", "up"}


def test_every_query_uses_only_exported_metrics(exported: set[str]) -> None:
    assert "rollout_operator_rollouts" in exported, sorted(exported)
    unknown = [
        (where, sorted(metric_names(expr) - exported))
        for where, expr in all_queries()
        if metric_names(expr) - exported
    ]
    assert not unknown, f"metrics the operator does not export: {unknown}"


def test_every_query_selects_some_metric() -> None:
    empty = [where for where, expr in all_queries() if not metric_names(expr)]
    assert not empty, empty


def test_phase_matchers_use_real_phases() -> None:
    for where, expr in all_queries():
        for value in re.findall(r'phase\s*=~?\s*"([^"]*)"', expr):
            assert set(value.split("|")) <= PHASES, f"{where}: phase {value!r}"


def test_alerts_are_complete() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)), names
    for rule in rules():
        assert rule.get("for"), f"{rule['alert']}: no `for` (it would fire on one scrape)"
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
    # The promise: a new user can alert on a failed Rollout from the shipped rules.
    failed = next(rule for rule in rules() if rule["alert"] == "RolloutFailed")
    assert 'rollout_operator_rollout_status{phase="Failed"}' in failed["expr"]


def test_dashboard_panels_use_the_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for title, target in _targets(dashboard["panels"]):
        assert target["datasource"]["uid"] == "${datasource}", title


def test_observability_doc_covers_every_metric_and_alert(exported: set[str]) -> None:
    doc = OBSERVABILITY_DOC.read_text()
    ours = {name for name in exported if name.startswith("rollout_operator_")}
    bases = {re.sub(r"_(bucket|sum|count|total)$", "", name) for name in ours}
    missing = sorted(b for b in bases if f"`{b}" not in doc)
    assert not missing, f"docs/observability.md does not document {missing}"
    undocumented = [rule["alert"] for rule in rules() if f"`{rule['alert']}`" not in doc]
    assert not undocumented, undocumented
