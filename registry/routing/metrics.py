"""Prometheus metrics of the message router and scatter-gather, with the quick reference's names."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from orchestration.core.metrics import MS_BUCKETS

__all__ = ["routing_latency_ms", "routing_messages_total", "scatter_gather_duration_ms"]

routing_messages_total = Counter(
    "routing_messages",
    "Routing decisions, by strategy and outcome (routed, no_rule, no_target).",
    ["strategy", "status"],
)
routing_latency_ms = Histogram(
    "routing_latency_ms",
    "Time to decide a route in memory, in ms.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100),
)
scatter_gather_duration_ms = Histogram(
    "scatter_gather_duration_ms",
    "Time from a scatter to its aggregated result, in ms.",
    buckets=MS_BUCKETS,
)
