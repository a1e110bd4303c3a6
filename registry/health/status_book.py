"""The status last written for each agent: writing changes, logging them, publishing metrics."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from registry.health.policy import HealthAssessment
from registry.metrics import (
    registry_agent_health,
    registry_agents_total,
    registry_self_preservation,
)
from registry.models import AgentStatus
from registry.records import StatusChange
from registry.store.agents import AgentStore

__all__ = ["StatusBook"]

logger = logging.getLogger(__name__)

_LOGGED_ONE_BY_ONE = 20
"""Status changes of one pass up to this many get a line each; more, the first 10 and a
summary line (a fleet of 100,000 going silent at once is one story, not 100,000 lines)."""


class StatusBook:
    """The registry's memory of which agents exist and of the status written for each.

    It answers "is this agent registered?" for heartbeats without a query, and turns fresh
    assessments into the status changes to write (and log) at once.

    Args:
        self_preservation_threshold: quoted in the self-preservation log line.
        max_health_series: how many agents get a ``registry_agent_health`` series at most.
            With more agents registered, the least healthy ones are published (ties by agent
            id), so the series that stay are the ones worth an alert; a series whose agent
            drops out of that set is removed.
    """

    def __init__(
        self, *, self_preservation_threshold: float = 0.5, max_health_series: int = 500
    ) -> None:
        self._written: dict[str, AgentStatus] = {}
        self._threshold = self_preservation_threshold
        self._eviction_paused = False
        self._max_health_series = max_health_series
        self._health_series: set[str] = set()
        self._capped = False

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._written

    def __len__(self) -> int:
        return len(self._written)

    @property
    def eviction_paused(self) -> bool:
        return self._eviction_paused

    def remember(self, statuses: Mapping[str, AgentStatus]) -> None:
        """Record statuses as read from the database."""
        self._written.update(statuses)

    def forget(self, agent_id: str) -> None:
        """The agent is gone: drop it and its health series."""
        self._written.pop(agent_id, None)
        if agent_id in self._health_series:
            self._health_series.discard(agent_id)
            with contextlib.suppress(KeyError):
                registry_agent_health.remove(agent_id)

    async def write_changes(
        self, store: AgentStore, assessments: Mapping[str, HealthAssessment], now: datetime
    ) -> list[StatusChange]:
        """Write, in one statement, the statuses that differ from the written ones; log them."""
        changes = [
            StatusChange(agent_id, self._written[agent_id], assessment.status, assessment.health)
            for agent_id, assessment in assessments.items()
            if agent_id in self._written and self._written[agent_id] is not assessment.status
        ]
        if not changes:
            return []
        await store.set_statuses({change.agent_id: change.new for change in changes}, now)
        for change in changes:
            self._written[change.agent_id] = change.new
        shown = changes if len(changes) <= _LOGGED_ONE_BY_ONE else changes[:10]
        for change in shown:
            log = logger.info if change.new is AgentStatus.ACTIVE else logger.warning
            log(
                "agent %s status %s -> %s (health %.2f)",
                change.agent_id,
                change.old.value,
                change.new.value,
                change.health,
            )
        if len(changes) > len(shown):
            kinds = Counter(f"{c.old.value} -> {c.new.value}" for c in changes)
            logger.warning(
                "%d agents changed status at once (%s); the first %d are logged above",
                len(changes),
                ", ".join(f"{count} {kind}" for kind, count in kinds.most_common()),
                len(shown),
            )
        return changes

    def set_eviction_paused(self, paused: bool, *, silent: int, total: int) -> None:
        """Record self-preservation's state; log when it turns on or off."""
        if paused and not self._eviction_paused:
            logger.warning(
                "self-preservation on: %d of %d agents are silent at once (more than %.0f%%); "
                "eviction paused, as a partition or a registry outage is likelier than a "
                "mass failure",
                silent,
                total,
                self._threshold * 100,
            )
        elif not paused and self._eviction_paused:
            logger.info(
                "self-preservation off: %d of %d agents silent; eviction resumes", silent, total
            )
        self._eviction_paused = paused
        registry_self_preservation.set(1 if paused else 0)

    def publish(self, assessments: Mapping[str, HealthAssessment]) -> dict[AgentStatus, int]:
        """Set the per-status and per-agent gauges; return the count of agents per status."""
        statuses = dict.fromkeys(AgentStatus, 0)
        for assessment in assessments.values():
            statuses[assessment.status] += 1
        for status, count in statuses.items():
            registry_agents_total.labels(status=status.value).set(count)
        shown = self._health_series_for(assessments)
        for agent_id in self._health_series - shown.keys():
            with contextlib.suppress(KeyError):
                registry_agent_health.remove(agent_id)
        for agent_id, health in shown.items():
            registry_agent_health.labels(agent_id=agent_id).set(health)
        self._health_series = set(shown)
        return statuses

    def _health_series_for(self, assessments: Mapping[str, HealthAssessment]) -> dict[str, float]:
        limit = self._max_health_series
        capped = len(assessments) > limit
        if capped != self._capped:
            self._capped = capped
            if capped:
                logger.warning(
                    "%d agents registered, more than the %d registry_agent_health series "
                    "allowed: publishing the %d least healthy",
                    len(assessments),
                    limit,
                    limit,
                )
        if not capped:
            return {agent_id: a.health for agent_id, a in assessments.items()}
        worst = sorted(assessments.items(), key=lambda item: (item[1].health, item[0]))[:limit]
        return {agent_id: a.health for agent_id, a in worst}
