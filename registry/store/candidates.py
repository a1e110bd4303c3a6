"""Candidate lookups for discovery: the capability filter, and light rows to rank on.

Discovery ranks every candidate but returns only a few, so it first reads just the columns
ranking needs (:class:`AgentSummary`: no descriptor JSON to decode), then the full rows of
the winners.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.models import AgentStatus
from registry.store.agent_rows import utc
from registry.store.tables import AgentCapabilityEntry, AgentEntry

__all__ = ["AgentSummary", "CandidateFilter", "Reading", "select_summaries"]

AGENTS = cast(Table, AgentEntry.__table__)
CAPABILITIES = cast(Table, AgentCapabilityEntry.__table__)

_SUMMARY_COLUMNS = (
    AGENTS.c.agent_id,
    AGENTS.c.version,
    AGENTS.c.location,
    AGENTS.c.updated_at,
    AGENTS.c.last_heartbeat_at,
    AGENTS.c.cpu_usage,
    AGENTS.c.error_rate,
    AGENTS.c.response_time_ms,
    AGENTS.c.status,
)


class Reading(NamedTuple):
    """The metrics of a last heartbeat, as read (cheaper than a validated model)."""

    cpu_usage: float | None
    error_rate: float | None
    response_time_ms: float | None


@dataclass(frozen=True, slots=True)
class AgentSummary:
    """What discovery ranks an agent on, and what the health checker reads.

    Attributes:
        tags: the agent's tags, or empty when they were not asked for.
        status: the status the health checker last wrote.
    """

    agent_id: str
    version: str
    location: str | None
    tags: tuple[str, ...]
    updated_at: datetime
    last_heartbeat_at: datetime | None
    metrics: Reading | None
    status: AgentStatus

    @property
    def last_seen(self) -> datetime:
        """The last heartbeat or (re-)registration, whichever is later."""
        if self.last_heartbeat_at is None:
            return self.updated_at
        return max(self.last_heartbeat_at, self.updated_at)


@dataclass(frozen=True, slots=True)
class CandidateFilter:
    """Every one of ``capabilities``, any of ``service_types``, any of ``tags``.

    The capability filter runs in SQL on the capability index (``GROUP BY ... HAVING
    COUNT = n``); service types and tags are JSON lists, filtered in Python because JSON
    membership tests are not portable between Postgres and SQLite.
    """

    capabilities: tuple[str, ...] = ()
    service_types: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, capabilities: Iterable[str], service_types: Iterable[Any], tags: Iterable[str]
    ) -> CandidateFilter:
        return cls(
            tuple(sorted(set(capabilities))),
            frozenset(str(getattr(s, "value", s)) for s in service_types),
            frozenset(tags),
        )

    def where(self, query: Select[Any]) -> Select[Any]:
        """``query`` restricted to agents having every capability."""
        if not self.capabilities:
            return query
        having_all = (
            select(CAPABILITIES.c.agent_id)
            .where(CAPABILITIES.c.capability.in_(self.capabilities))
            .group_by(CAPABILITIES.c.agent_id)
            .having(func.count() == len(self.capabilities))
        )
        return query.where(AGENTS.c.agent_id.in_(having_all))

    def accepts(self, service_types: Sequence[str] | None, tags: Sequence[str] | None) -> bool:
        """The Python half of the filter, on a row's JSON lists."""
        if self.service_types and self.service_types.isdisjoint(service_types or ()):
            return False
        return not (self.tags and self.tags.isdisjoint(tags or ()))


async def select_summaries(
    connection: AsyncConnection, where: CandidateFilter, *, with_tags: bool
) -> list[AgentSummary]:
    """The summaries of the agents ``where`` accepts, ordered by id."""
    columns: list[Any] = list(_SUMMARY_COLUMNS)
    if where.service_types:
        columns.append(AGENTS.c.service_types)
    if where.tags or with_tags:
        columns.append(AGENTS.c.tags)
    query = where.where(select(*columns).order_by(AGENTS.c.agent_id))
    filtering = bool(where.service_types or where.tags)
    summaries = []
    for row in (await connection.execute(query)).mappings():
        tags = row["tags"] if with_tags or where.tags else None
        if filtering and not where.accepts(
            row["service_types"] if where.service_types else None, tags
        ):
            continue
        last_heartbeat_at = row["last_heartbeat_at"]
        metrics = None
        if last_heartbeat_at is not None:
            metrics = Reading(row["cpu_usage"], row["error_rate"], row["response_time_ms"])
        summaries.append(
            AgentSummary(
                agent_id=row["agent_id"],
                version=row["version"],
                location=row["location"],
                tags=tuple(tags) if with_tags and tags else (),
                updated_at=utc(row["updated_at"]),
                last_heartbeat_at=utc(last_heartbeat_at) if last_heartbeat_at else None,
                metrics=metrics,
                status=AgentStatus(row["status"]),
            )
        )
    return summaries
