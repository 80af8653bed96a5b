"""Prometheus metrics, served on --metrics-port at /metrics (docs/observability.md).

Per-Rollout series are computed when scraped from the operator's memory (no work per
event); cardinality is bounded by the number of Rollouts times five phases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY: Final = prometheus_client.REGISTRY

PHASES: Final = ("Progressing", "Succeeded", "Failed", "Blocked", "RolledBack")

ROLLOUT_DURATION = Histogram(
    "rollout_operator_rollout_duration_seconds",
    "From the write that started a rollout to the workload being fully rolled out",
    ["kind"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600),
)
IMAGE_UPDATES = Counter(
    "rollout_operator_image_updates_total",
    "Workload patches that changed container images",
    ["kind"],
)
RESTARTS = Counter(
    "rollout_operator_restarts_total",
    "Rolling restarts triggered (config change or restartedAt)",
    ["kind"],
)
ROLLBACKS = Counter(
    "rollout_operator_rollbacks_total",
    "Automatic rollbacks after a failed rollout (spec.rollbackOnFailure)",
    ["kind"],
)
CONFLICTS = Counter(
    "rollout_operator_conflicts_total",
    "Times another writer was found fighting over a field a Rollout owns",
    ["kind"],
)
RECONCILES = Counter("rollout_operator_reconciles", "Reconciles run", ["result"])
RECONCILE_ERRORS = Counter(
    "rollout_operator_reconcile_errors",
    "Reconciles that failed and were retried, by HTTP status (0: no answer)",
    ["reason"],
)
API_LATENCY = Histogram(
    "rollout_operator_api_request_duration_seconds",
    "Latency of the operator's own API requests (watch streams excluded)",
    ["verb", "resource", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WATCH_RESTARTS = Counter(
    "rollout_operator_watch_restarts",
    "Watches started again: expired (410, re-list), resync (re-list), connection, error",
    ["resource", "reason"],
)
INFORMER_SYNCED = Gauge(
    "rollout_operator_informer_synced",
    "1 once the resource's first list is complete in this active period",
    ["resource"],
)
LEADER = Gauge("rollout_operator_leader", "1 when this replica is the one acting")
QUEUE_DEPTH = Gauge("rollout_operator_queue_depth", "Rollouts waiting to be reconciled")


def observe_request(verb: str, resource: str, code: str, seconds: float) -> None:
    """The API client's hook: one observation per finished request."""
    API_LATENCY.labels(verb, resource, code).observe(seconds)


class RolloutCollector(Collector):
    """`rollout_operator_rollouts{phase}` and `rollout_operator_rollout_status`, at scrape time."""

    def __init__(self, rollouts: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        self._rollouts = rollouts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        counts = dict.fromkeys(PHASES, 0)
        per_rollout = GaugeMetricFamily(
            "rollout_operator_rollout_status",
            "1 for the phase each Rollout is in, 0 for the others (alert on phase Failed)",
            labels=["namespace", "name", "phase"],
        )
        for rollout in self._rollouts():
            meta = rollout.get("metadata") or {}
            phase = (rollout.get("status") or {}).get("phase")
            if phase in counts:
                counts[phase] += 1
            for candidate in PHASES:
                per_rollout.add_metric(
                    [meta.get("namespace", ""), meta.get("name", ""), candidate],
                    1.0 if candidate == phase else 0.0,
                )
        by_phase = GaugeMetricFamily(
            "rollout_operator_rollouts",
            "Rollouts known to this operator, by phase",
            labels=["phase"],
        )
        for phase, count in counts.items():
            by_phase.add_metric([phase], float(count))
        yield by_phase
        yield per_rollout

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []
