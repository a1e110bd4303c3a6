"""Prometheus metrics with the quick reference's names, served on each process's /metrics.

Durations named ``*_ms`` are histograms in milliseconds. Label values are bounded: enum
values or names from user definitions, never reprs or ids that grow without bound.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "MS_BUCKETS",
    "pipeline_executions_total",
    "pipeline_stage_duration_ms",
    "saga_compensations_total",
    "saga_duration_ms",
    "saga_executions_total",
    "saga_steps_total",
]

MS_BUCKETS = (
    1,
    2,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    1_800_000,
)

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

pipeline_executions_total = Counter(
    "pipeline_executions", "Pipelines that ended, by status.", ["status"]
)
pipeline_stage_duration_ms = Histogram(
    "pipeline_stage_duration_ms",
    "Pipeline stage duration (completed or failed), in ms, by stage name.",
    ["stage_name"],
    buckets=MS_BUCKETS,
)
