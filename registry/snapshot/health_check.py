"""One pass of the health checker over the registry's snapshot instead of a full table read.

The plan is :func:`registry.health_check.plan_health_check`'s; eviction stays guarded in SQL
(an agent heard from through any registry process since the cutoff is kept), so a snapshot
that lags another process's heartbeats can delay a status write, never wrongly evict.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from registry.health.plan import plan_health_check
from registry.health.policy import HealthAssessment, HealthPolicy
from registry.health.status_book import StatusBook
from registry.records import HealthCheckSummary, PendingSamples
from registry.snapshot.agents import AgentSnapshot
from registry.snapshot.search import assess_all
from registry.store.agents import AgentStore

__all__ = ["run_snapshot_health_check"]

logger = logging.getLogger(__name__)

_CHUNK = 5_000
"""Agents assessed between two yields to the event loop."""


async def run_snapshot_health_check(
    store: AgentStore,
    snapshot: AgentSnapshot,
    book: StatusBook,
    pending: PendingSamples,
    policy: HealthPolicy,
    now: datetime,
    *,
    self_preservation_threshold: float = 0.5,
) -> HealthCheckSummary:
    """Assess every agent at ``now``, evict the long-silent ones, write status changes.

    Like :func:`registry.health_check.run_health_check`, reading the snapshot. Eviction is
    skipped while self-preservation holds, and for agents with a heartbeat still pending.
    The caller writes pending heartbeats and re-synchronises the snapshot first, and keeps
    flushes out while this runs.
    """
    entries = list(snapshot.entries.values())
    book.remember({entry.agent_id: entry.row.status for entry in entries})
    assessments: dict[str, HealthAssessment] = {}
    for start in range(0, len(entries), _CHUNK):
        if start:
            await asyncio.sleep(0)  # let requests in: a pass over 100,000 agents takes ~0.5 s
        assessments.update(assess_all(entries[start : start + _CHUNK], pending, now, policy))
    plan = plan_health_check(
        assessments, policy, self_preservation_threshold=self_preservation_threshold
    )
    book.set_eviction_paused(plan.eviction_paused, silent=plan.silent, total=len(entries))
    due = [agent_id for agent_id in plan.due if pending.get(agent_id) is None]
    evicted: list[str] = []
    if due and not plan.eviction_paused:
        cutoff = now - timedelta(seconds=policy.deregistration_timeout_s)
        evicted = await store.evict(due, silent_since=cutoff)
    for agent_id in evicted:
        book.forget(agent_id)
        snapshot.remove(agent_id)
        logger.info(
            "agent %s deregistered: silent for %.0f s (deregistration timeout %.0f s)",
            agent_id,
            assessments.pop(agent_id).silent_s,
            policy.deregistration_timeout_s,
        )
    changes = await book.write_changes(store, assessments, now)
    snapshot.record_statuses({change.agent_id: change.new for change in changes}, now)
    return HealthCheckSummary(
        checked=len(entries),
        statuses=book.publish(assessments),
        changes=tuple(changes),
        deregistered=tuple(evicted),
        silent=plan.silent,
        eviction_paused=plan.eviction_paused,
    )
