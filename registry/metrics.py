"""Prometheus metrics of the agent registry, with the quick reference's names.

``registry_agent_health`` is labelled by agent id, as the quick reference lists it. Its series
count is bounded: a series is removed when its agent is deregistered, and with more agents
than ``ORCH_REGISTRY_HEALTH_SERIES_LIMIT`` (500) only the least healthy are published.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from orchestration.core.metrics import MS_BUCKETS

__all__ = [
    "registry_agent_health",
    "registry_agents_total",
    "registry_discovery_latency_ms",
    "registry_heartbeats_total",
    "registry_self_preservation",
]

registry_agents_total = Gauge(
    "registry_agents_total",
    "Registered agents by status, at the last health check (as stored, at start).",
    ["status"],
)
registry_discovery_latency_ms = Histogram(
    "registry_discovery_latency_ms", "Time to answer a discovery query, in ms.", buckets=MS_BUCKETS
)
registry_agent_health = Gauge(
    "registry_agent_health",
    "Agent health score (0..1), at the last health check (as stored, at start).",
    ["agent_id"],
)
registry_self_preservation = Gauge(
    "registry_self_preservation",
    "1 while eviction is paused because most agents went silent at once, else 0.",
)
registry_heartbeats_total = Counter("registry_heartbeats", "Heartbeats accepted by the registry.")
