"""Discovery and health assessment over the registry's snapshot, without a query.

Same answers as the database path (:func:`registry.discovery.select_agents` over the store's
candidates, health from :func:`registry.views.assess_agent`), computed faster: candidates
come from the snapshot's indexes; each agent's metrics score and last sign of life are
precomputed, so an agent heard from on time costs a few comparisons (its freshness is 1);
versions are checked once per distinct version string; and only the best ``max_results``
are kept. A heartbeat accepted but not yet written replaces the agent's row values when it
is newer, exactly as :func:`registry.views.assess_agent` does.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from registry.discovery import DiscoveryQuery
from registry.health.policy import (
    DEGRADED_HEALTH,
    HealthAssessment,
    HealthPolicy,
    freshness,
    metrics_score,
    status_for,
)
from registry.records import HeartbeatSample, PendingSamples, RegisteredAgent
from registry.snapshot.agents import BANDS, AgentSnapshot, SnapshotEntry, micros

__all__ = ["assess_all", "assess_samples", "routable_health", "search", "views"]


def _latest(entry: SnapshotEntry, pending: PendingSamples, now_us: int) -> tuple[float, float]:
    """The metrics score and the silence (seconds) to assess the agent on."""
    score, seen_us = entry.score, entry.last_seen_us
    sample = pending.get(entry.row.descriptor.agent_id)
    if sample is not None and sample.at >= entry.last_seen:
        score, seen_us = metrics_score(sample.metrics), micros(sample.at)
    silent_us = now_us - seen_us
    return score, (silent_us / 1_000_000 if silent_us > 0 else 0.0)


def _health(score: float, silent_s: float, policy: HealthPolicy) -> float:
    # health_score's arithmetic, step for step, so the floats are identical.
    if silent_s <= policy.late_after_s:
        return score  # freshness 1; the score is already within [0, 1]
    return min(1.0, max(0.0, score * freshness(silent_s, policy)))


def _usable(
    ids: Iterable[str],
    entries: Mapping[str, SnapshotEntry],
    pending: PendingSamples,
    now_us: int,
    policy: HealthPolicy,
    floor: float,
) -> Iterator[tuple[str, SnapshotEntry, float]]:
    """Each agent of ``ids`` that is usable (ACTIVE or DEGRADED: heard from within both
    limits, health >= 0.3) with health at least ``floor``, with its entry and health."""
    silent_limit = min(policy.silent_after_s, policy.deregistration_timeout_s)
    floor = max(floor, DEGRADED_HEALTH)
    late_s = policy.late_after_s
    lookup = pending.get
    for agent_id in ids:
        entry = entries[agent_id]
        # _latest and _health, inlined: this loop runs over thousands of candidates.
        score, seen_us = entry.score, entry.last_seen_us
        sample = lookup(agent_id)
        if sample is not None and sample.at >= entry.last_seen:
            score, seen_us = metrics_score(sample.metrics), micros(sample.at)
        silent_us = now_us - seen_us
        silent_s = silent_us / 1_000_000 if silent_us > 0 else 0.0
        if silent_s > silent_limit:
            continue
        health = score if silent_s <= late_s else _health(score, silent_s, policy)
        if health >= floor:
            yield agent_id, entry, health


def search(
    snapshot: AgentSnapshot,
    pending: PendingSamples,
    query: DiscoveryQuery,
    now: datetime,
    policy: HealthPolicy,
) -> list[SnapshotEntry]:
    """The agents ``query`` finds, best first (ranked as :mod:`registry.discovery` says).

    Candidates are looked at score band by score band, best first: an agent's health never
    exceeds its metrics score, so once ``max_results`` agents are found whose rank no agent
    of the lower bands can beat, those are not looked at. Agents with an unwritten heartbeat
    (whose score may have changed) are looked at first, whatever their band.
    """
    ids = snapshot.matching(query.capabilities, query.service_types, query.tags)
    if not ids:
        return []
    entries = snapshot.entries
    everyone = len(ids) == len(entries)
    preferred = query.location_preference.casefold() if query.location_preference else None
    constraint = query.version
    allowed: dict[str, bool] = {}
    ranked: list[tuple[bool, float, str]] = []
    now_us = micros(now)
    floor = max(query.min_health_score, DEGRADED_HEALTH)
    wanted = query.max_results

    def rank(candidates: Iterable[str]) -> None:
        for agent_id, entry, health in _usable(candidates, entries, pending, now_us, policy, floor):
            if constraint is not None:
                version = entry.row.descriptor.version
                ok = allowed.get(version)
                if ok is None:
                    ok = allowed[version] = constraint.allows(version)
                if not ok:
                    continue
            elsewhere = preferred is not None and preferred not in entry.places
            ranked.append((elsewhere, -health, agent_id))

    unwritten = {agent_id for agent_id in pending if agent_id in ids}
    rank(unwritten)
    best: list[tuple[bool, float, str]] = []
    scale = BANDS - 1
    for band in range(scale, -1, -1):
        if band + 1 <= floor * scale:  # every score of this band and below is under the floor
            break
        members = snapshot.band(band)
        members = members if everyone else members & ids  # type: ignore[operator]
        rank(members - unwritten if unwritten else members)
        if len(best) + len(ranked) >= wanted:
            best = heapq.nsmallest(wanted, [*best, *ranked])
            ranked.clear()
            elsewhere, negative, _ = best[-1]
            # Every agent below this band has a score under band / scale: the last place is
            # taken for good once it is held by a preferred agent at least that healthy.
            if len(best) >= wanted and not elsewhere and -negative * scale >= band:
                break
    found = heapq.nsmallest(wanted, [*best, *ranked])
    return [entries[agent_id] for _, _, agent_id in found]


def routable_health(
    snapshot: AgentSnapshot,
    agent_ids: Iterable[str],
    pending: PendingSamples,
    now: datetime,
    policy: HealthPolicy,
) -> dict[str, float]:
    """The health of those of ``agent_ids`` that are registered and usable (ACTIVE or
    DEGRADED), by id: what the router needs, without building the agents' views."""
    entries = snapshot.entries
    known = [agent_id for agent_id in agent_ids if agent_id in entries]
    usable = _usable(known, entries, pending, micros(now), policy, 0.0)
    return {agent_id: health for agent_id, _, health in usable}


def assess_all(
    entries: Iterable[SnapshotEntry],
    pending: PendingSamples,
    now: datetime,
    policy: HealthPolicy,
) -> dict[str, HealthAssessment]:
    """Every agent's health at ``now``, by id (what ``assess_agent`` gives, agent by agent)."""
    now_us = micros(now)
    assessments: dict[str, HealthAssessment] = {}
    for entry in entries:
        score, silent_s = _latest(entry, pending, now_us)
        health = _health(score, silent_s, policy)
        assessments[entry.row.descriptor.agent_id] = HealthAssessment(
            health, status_for(health, silent_s, policy), silent_s
        )
    return assessments


def assess_samples(
    snapshot: AgentSnapshot,
    samples: Mapping[str, HeartbeatSample],
    now: datetime,
    policy: HealthPolicy,
) -> dict[str, HealthAssessment]:
    """``assess(sample.metrics, sample.at, now, policy)`` of each sample, by agent id,
    reusing the metrics score the snapshot computed when it recorded the sample."""
    now_us = micros(now)
    entries = snapshot.entries
    assessments: dict[str, HealthAssessment] = {}
    for agent_id, sample in samples.items():
        entry = entries.get(agent_id)
        if entry is not None and entry.row.metrics is sample.metrics:
            score = entry.score
        else:
            score = metrics_score(sample.metrics)
        silent_us = now_us - micros(sample.at)
        silent_s = silent_us / 1_000_000 if silent_us > 0 else 0.0
        health = _health(score, silent_s, policy)
        assessments[agent_id] = HealthAssessment(
            health, status_for(health, silent_s, policy), silent_s
        )
    return assessments


def views(
    entries: Iterable[SnapshotEntry],
    pending: PendingSamples,
    now: datetime,
    policy: HealthPolicy,
) -> list[RegisteredAgent]:
    """Each agent as the registry returns it, in order (what ``registry.views.registered_agent``
    gives)."""
    now_us = micros(now)
    found = []
    for entry in entries:
        score, silent_s = _latest(entry, pending, now_us)
        health = _health(score, silent_s, policy)
        row = entry.row
        metrics, last_heartbeat_at = row.metrics, row.last_heartbeat_at
        count = row.heartbeat_count
        sample = pending.get(entry.row.descriptor.agent_id)
        if sample is not None:
            metrics, last_heartbeat_at = sample.metrics, sample.at
            count += sample.count
        found.append(
            RegisteredAgent(
                descriptor=row.descriptor,
                status=status_for(health, silent_s, policy),
                health_score=health,
                location=row.location,
                registered_at=row.registered_at,
                last_heartbeat_at=last_heartbeat_at,
                metrics=metrics,
                heartbeat_count=count,
            )
        )
    return found
