"""Prometheus metrics of swarms, with the quick reference's names.

``swarm_agents_total{swarm_id,role}`` is labelled by swarm id as the quick reference lists it;
a swarm's series are removed when it ends, so the series count follows the running swarms.
Emitted by ``SwarmWorkflow`` (never while it replays history).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from orchestration.metrics import MS_BUCKETS

__all__ = [
    "swarm_agents_total",
    "swarm_convergence_time_ms",
    "swarm_efficiency",
    "swarm_executions_total",
    "swarm_items_processed_total",
]

swarm_agents_total = Gauge(
    "swarm_agents_total",
    "Agents of a running swarm by role: working (an assignment in flight), idle, unhealthy.",
    ["swarm_id", "role"],
)
swarm_convergence_time_ms = Histogram(
    "swarm_convergence_time_ms",
    "Time from a swarm's start until its convergence threshold was reached, in ms.",
    buckets=MS_BUCKETS,
)
swarm_efficiency = Gauge(
    "swarm_efficiency",
    "Efficiency (busy time / (agents x duration)) of the last swarm that ended, by behaviour.",
    ["behavior"],
)
swarm_items_processed_total = Counter(
    "swarm_items_processed",
    "Items (fitness evaluations) processed successfully by swarms, by behaviour.",
    ["behavior"],
)
swarm_executions_total = Counter(
    "swarm_executions", "Swarms that ended, by status (completed, partial, failed).", ["status"]
)
