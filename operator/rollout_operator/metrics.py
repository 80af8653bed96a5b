"""Prometheus metrics, served on --metrics-port at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROLLOUTS = Gauge(
    "rollout_operator_rollouts", "Rollouts known to this operator, by phase", ["phase"]
)
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
RECONCILES = Counter("rollout_operator_reconciles_total", "Reconciles run", ["result"])
RECONCILE_ERRORS = Counter(
    "rollout_operator_reconcile_errors_total", "Reconciles that failed and were retried", ["reason"]
)
API_LATENCY = Histogram(
    "rollout_operator_api_request_duration_seconds",
    "Latency of the operator's own API requests (watches excluded)",
    ["verb", "resource", "code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge("rollout_operator_queue_depth", "Rollouts waiting to be reconciled")
