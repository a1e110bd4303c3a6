"""Light reads that keep an in-memory copy of the agents in step with the database.

The registry's snapshot (:mod:`registry.snapshot`) is re-synchronised from these: the
heartbeat and status columns of the rows that changed since a time, with the number of rows,
so deletions made by another registry process show up as a count that does not add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.models import AgentStatus
from registry.store.agent_rows import utc
from registry.store.candidates import Reading
from registry.store.tables import AgentEntry

__all__ = ["AgentChange", "AgentChanges", "select_changes"]

AGENTS = cast(Table, AgentEntry.__table__)

_CHANGE_COLUMNS = (
    AGENTS.c.agent_id,
    AGENTS.c.updated_at,
    AGENTS.c.last_heartbeat_at,
    AGENTS.c.cpu_usage,
    AGENTS.c.error_rate,
    AGENTS.c.response_time_ms,
    AGENTS.c.heartbeat_count,
    AGENTS.c.status,
    AGENTS.c.status_changed_at,
)


class AgentChange(NamedTuple):
    """The columns of an agent's row that change without a (re-)registration.

    Attributes:
        updated_at: its last (re-)registration; when it moved, the descriptor may have too.
        reading: its last flushed heartbeat's metrics, None before the first.
    """

    agent_id: str
    updated_at: datetime
    last_heartbeat_at: datetime | None
    reading: Reading | None
    heartbeat_count: int
    status: AgentStatus
    status_changed_at: datetime


@dataclass(frozen=True, slots=True)
class AgentChanges:
    """Changed rows, and how many agents and heartbeats the table held when they were read.

    Attributes:
        rows: the agents changed since the time asked for (every agent when none was given).
        total: the number of registered agents.
        heartbeats: the sum of their heartbeat counts. Counts only grow, so this moves
            whenever any process writes a heartbeat: a cheap test for "heartbeats were
            written that I have not seen".
    """

    rows: list[AgentChange]
    total: int
    heartbeats: int


async def select_changes(
    connection: AsyncConnection, since: datetime | None, *, heartbeats: bool = True
) -> AgentChanges:
    """The agents registered, given a status or (with ``heartbeats``) heartbeated at or
    after ``since``, with the table's agent and heartbeat totals.

    Args:
        since: None reads every agent.
        heartbeats: also read the agents whose last heartbeat is at or after ``since``.
    """
    query = select(*_CHANGE_COLUMNS)
    if since is not None:
        moment = utc(since)
        changed = [AGENTS.c.updated_at >= moment, AGENTS.c.status_changed_at >= moment]
        if heartbeats:
            changed.append(AGENTS.c.last_heartbeat_at >= moment)
        query = query.where(or_(*changed))
    rows = [
        AgentChange(
            agent_id,
            utc(updated_at),
            utc(last_heartbeat_at) if last_heartbeat_at is not None else None,
            Reading(cpu, errors, response) if last_heartbeat_at is not None else None,
            count,
            AgentStatus(status),
            utc(status_changed_at),
        )
        for (
            agent_id,
            updated_at,
            last_heartbeat_at,
            cpu,
            errors,
            response,
            count,
            status,
            status_changed_at,
        ) in (await connection.execute(query)).all()
    ]
    if since is None:
        return AgentChanges(rows, len(rows), sum(row.heartbeat_count for row in rows))
    totals = select(func.count(), func.coalesce(func.sum(AGENTS.c.heartbeat_count), 0))
    total, beats = (await connection.execute(totals)).one()
    return AgentChanges(rows, int(total), int(beats))
