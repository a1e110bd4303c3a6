"""Prometheus metrics of sagas, pipelines and swarms, emitted from workflow code.

The quick reference's names. Durations named ``*_ms`` are histograms in milliseconds. Label
values are bounded: enum values or names from user definitions, never reprs or ids that grow
without bound. ``swarm_agents_total{swarm_id,role}`` is labelled by swarm id as the quick
reference lists it; a swarm's series are removed when it ends, so the series count follows
the running swarms.

Workflow code counts through :func:`count` and :func:`observe`, which do nothing while the
workflow replays history: an event is counted when it really happens, once.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from temporalio import workflow

from orchestration.core.metrics import MS_BUCKETS

__all__ = [
    "count",
    "observe",
    "pipeline_executions_total",
    "pipeline_stage_duration_ms",
    "saga_compensations_total",
    "saga_duration_ms",
    "saga_executions_total",
    "saga_pending_actions",
    "saga_steps_total",
    "swarm_agents_total",
    "swarm_convergence_time_ms",
    "swarm_efficiency",
    "swarm_executions_total",
    "swarm_items_processed_total",
]


def count(counter: Any, amount: float = 1) -> None:
    """``counter.inc(amount)`` unless the workflow is replaying history."""
    if not workflow.unsafe.is_replaying():
        counter.inc(amount)


def observe(histogram: Any, value: float) -> None:
    """``histogram.observe(value)`` unless the workflow is replaying history."""
    if not workflow.unsafe.is_replaying():
        histogram.observe(value)


saga_executions_total = Counter(
    "saga_executions", "Sagas that reached a terminal state, by state.", ["status"]
)
saga_steps_total = Counter(
    "saga_steps", "Saga step outcomes, by step name and outcome.", ["step_name", "status"]
)
saga_compensations_total = Counter("saga_compensations", "Saga compensations that completed.")
saga_duration_ms = Histogram(
    "saga_duration_ms",
    "Saga duration from start to terminal state, in ms.",
    buckets=MS_BUCKETS,
)

saga_pending_actions = Gauge(
    "saga_pending_actions",
    "Running sagas of this worker's task queue that wait for a person, by kind (approval: "
    "an approval step; intervention: parked for an operator). Counted from Temporal's "
    "visibility store, so it holds across worker restarts; replicas report the same number.",
    ["kind"],
)

pipeline_executions_total = Counter(
    "pipeline_executions", "Pipelines that ended, by status.", ["status"]
)
pipeline_stage_duration_ms = Histogram(
    "pipeline_stage_duration_ms",
    "Pipeline stage duration (completed or failed), in ms, by stage name.",
    ["stage_name"],
    buckets=MS_BUCKETS,
)

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
