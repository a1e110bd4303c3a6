"""An agent's row, read through its pending heartbeat, as health, candidate or public view.

A heartbeat accepted but not yet written is newer than the agent's row, so every read goes
through it: an agent is ACTIVE again the moment a healthy heartbeat is accepted, not at the
next flush.
"""

from __future__ import annotations

from datetime import datetime

from registry.discovery import Candidate
from registry.health.policy import HealthAssessment, HealthPolicy, assess
from registry.records import HeartbeatSample, RegisteredAgent
from registry.store.agents import StoredAgent
from registry.store.candidates import AgentSummary

__all__ = ["assess_agent", "candidate_of", "registered_agent"]


def assess_agent(
    row: StoredAgent | AgentSummary,
    pending: HeartbeatSample | None,
    now: datetime,
    policy: HealthPolicy,
) -> HealthAssessment:
    """The agent's health at ``now``, from its row or its newer pending heartbeat."""
    metrics, last_seen = row.metrics, row.last_seen
    if pending is not None and pending.at >= last_seen:
        return assess(pending.metrics, pending.at, now, policy)
    return assess(metrics, last_seen, now, policy)


def candidate_of(
    summary: AgentSummary, pending: HeartbeatSample | None, now: datetime, policy: HealthPolicy
) -> Candidate:
    """The agent as discovery ranks it."""
    assessment = assess_agent(summary, pending, now, policy)
    return Candidate(
        agent_id=summary.agent_id,
        version=summary.version,
        location=summary.location,
        tags=summary.tags,
        health=assessment.health,
        status=assessment.status,
    )


def registered_agent(
    row: StoredAgent, pending: HeartbeatSample | None, now: datetime, policy: HealthPolicy
) -> RegisteredAgent:
    """The agent as the registry returns it."""
    metrics, last_heartbeat_at, count = row.metrics, row.last_heartbeat_at, row.heartbeat_count
    if pending is not None:
        metrics, last_heartbeat_at = pending.metrics, pending.at
        count += pending.count
    assessment = assess_agent(row, pending, now, policy)
    return RegisteredAgent(
        descriptor=row.descriptor,
        status=assessment.status,
        health_score=assessment.health,
        location=row.location,
        registered_at=row.registered_at,
        last_heartbeat_at=last_heartbeat_at,
        metrics=metrics,
        heartbeat_count=count,
    )
