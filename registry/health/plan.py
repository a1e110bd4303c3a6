"""One pass of the health checker: the plan (pure), then its writes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from registry.health.policy import HealthAssessment, HealthPolicy, is_silent, should_pause_eviction
from registry.models import AgentStatus

__all__ = ["HealthCheckPlan", "plan_health_check"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HealthCheckPlan:
    """What a health check pass should do.

    Attributes:
        due: agents silent past the deregistration timeout, by id.
        silent: agents silent for more than three heartbeat intervals.
        eviction_paused: self-preservation holds back the eviction of ``due``.
    """

    due: tuple[str, ...]
    silent: int
    eviction_paused: bool


def plan_health_check(
    assessments: Mapping[str, HealthAssessment],
    policy: HealthPolicy,
    *,
    self_preservation_threshold: float = 0.5,
) -> HealthCheckPlan:
    """Decide which agents to evict, and whether self-preservation pauses eviction.

    Args:
        assessments: every registered agent's health now, by id.
        policy: the registry's timing.
        self_preservation_threshold: see :func:`registry.health.should_pause_eviction`.
    """
    due = tuple(
        sorted(a for a, health in assessments.items() if health.status is AgentStatus.DEREGISTERED)
    )
    silent = sum(1 for health in assessments.values() if is_silent(health.silent_s, policy))
    paused = should_pause_eviction(len(assessments), silent, self_preservation_threshold)
    return HealthCheckPlan(due, silent, paused)
