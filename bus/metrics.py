"""Prometheus metrics of the message bus and the bridge, with the quick reference's names.

Topic labels are bounded: every agent inbox counts as ``agent_inbox`` and every reply topic as
``replies`` (see :func:`bus.topics.metric_label`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from orchestration.core.metrics import MS_BUCKETS

__all__ = [
    "bridge_signals_total",
    "message_bus_connections",
    "message_bus_dead_letters_total",
    "message_bus_dropped_total",
    "message_bus_errors_total",
    "message_bus_latency_ms",
    "message_bus_received_total",
    "message_bus_sent_total",
]

message_bus_sent_total = Counter(
    "message_bus_sent", "Messages published, by logical topic and type.", ["topic", "type"]
)
message_bus_received_total = Counter(
    "message_bus_received",
    "Messages delivered to consumers, by logical topic and type.",
    ["topic", "type"],
)
message_bus_latency_ms = Histogram(
    "message_bus_latency_ms",
    "Time from a message's creation to its delivery to a consumer, in ms (sender's clock).",
    ["topic"],
    buckets=MS_BUCKETS,
)
message_bus_connections = Gauge(
    "message_bus_connections", "Open Kafka producers and consumers of this process."
)
message_bus_errors_total = Counter(
    "message_bus_errors",
    "Bus errors by kind: decode, handler, publish, consume, commit, reply, late_reply.",
    ["kind"],
)
message_bus_dropped_total = Counter(
    "message_bus_dropped",
    "Messages not delivered, by logical topic and reason (duplicate, expired).",
    ["topic", "reason"],
)
message_bus_dead_letters_total = Counter(
    "message_bus_dead_letters", "Messages sent to a dead-letter topic, by logical topic.", ["topic"]
)
bridge_signals_total = Counter(
    "bridge_signals",
    "Kafka messages the bridge handled, by topic and outcome (signaled, duplicate, dead_letter).",
    ["topic", "status"],
)
