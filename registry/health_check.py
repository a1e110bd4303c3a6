"""One pass of the health checker: the plan (pure), then its writes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from registry.health import HealthAssessment, HealthPolicy, is_silent, should_pause_eviction
from registry.heartbeat_buffer import HeartbeatBuffer
from registry.models import AgentStatus
from registry.records import HealthCheckSummary
from registry.status_book import StatusBook
from registry.store.agents import AgentStore
from registry.views import assess_agent

__all__ = ["HealthCheckPlan", "plan_health_check", "run_health_check"]

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


async def run_health_check(
    store: AgentStore,
    book: StatusBook,
    pending: HeartbeatBuffer,
    policy: HealthPolicy,
    now: datetime,
    *,
    self_preservation_threshold: float = 0.5,
) -> HealthCheckSummary:
    """Assess every agent at ``now``, evict the long-silent ones, write status changes.

    Eviction is skipped while self-preservation holds, and for agents with a heartbeat still
    pending (they are alive, whatever their row says). The caller writes pending heartbeats
    first and keeps flushes out while this runs.
    """
    rows = await store.summaries()
    book.remember({row.agent_id: row.status for row in rows})
    assessments = {
        row.agent_id: assess_agent(row, pending.get(row.agent_id), now, policy) for row in rows
    }
    plan = plan_health_check(
        assessments, policy, self_preservation_threshold=self_preservation_threshold
    )
    book.set_eviction_paused(plan.eviction_paused, silent=plan.silent, total=len(rows))
    due = [agent_id for agent_id in plan.due if pending.get(agent_id) is None]
    evicted: list[str] = []
    if due and not plan.eviction_paused:
        cutoff = now - timedelta(seconds=policy.deregistration_timeout_s)
        evicted = await store.evict(due, silent_since=cutoff)
    for agent_id in evicted:
        book.forget(agent_id)
        logger.info(
            "agent %s deregistered: silent for %.0f s (deregistration timeout %.0f s)",
            agent_id,
            assessments.pop(agent_id).silent_s,
            policy.deregistration_timeout_s,
        )
    changes = await book.write_changes(store, assessments, now)
    return HealthCheckSummary(
        checked=len(rows),
        statuses=book.publish(assessments),
        changes=tuple(changes),
        deregistered=tuple(evicted),
        silent=plan.silent,
        eviction_paused=plan.eviction_paused,
    )
