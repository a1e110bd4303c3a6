"""The agents' rows: registration, heartbeat batches, status writes and candidate lookups.

The store knows nothing about health: it keeps what agents declared and reported, and the
status the health checker last wrote. :class:`registry.local_registry.LocalAgentRegistry`
computes health and status at read time from these rows.
The agent's ``location`` column follows :func:`registry.store.agent_rows.location_of`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry.models import AgentDescriptor, AgentStatus
from registry.records import HeartbeatSample
from registry.store.agent_rows import StoredAgent, descriptor_values, location_of, utc
from registry.store.candidates import AgentSummary, CandidateFilter, select_summaries
from registry.store.changes import AgentChanges, select_changes
from registry.store.engine import translate_connect_errors
from registry.store.heartbeat_writer import write_heartbeats
from registry.store.tables import AgentCapabilityEntry, AgentEntry

__all__ = ["AgentStore", "StoredAgent", "location_of"]

AGENTS = cast(Table, AgentEntry.__table__)
CAPABILITIES = cast(Table, AgentCapabilityEntry.__table__)

# Rows per DELETE ... IN (...): well under every backend's bound-parameter limit.
_CHUNK = 500
# Columns a re-registration replaces; the heartbeat columns and registered_at are kept.
_DESCRIPTOR_COLUMNS = (
    "agent_type",
    "version",
    "endpoint",
    "service_types",
    "tags",
    "capabilities",
    "metadata",
    "location",
    "max_concurrency",
    "rate_limit_per_s",
)


_INSERT_CAPABILITIES_PG = text(
    "INSERT INTO agent_capabilities (agent_id, capability) "
    "SELECT * FROM unnest(CAST(:agent_ids AS text[]), CAST(:capabilities AS text[])) "
    "ON CONFLICT DO NOTHING"
)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class AgentStore:
    """Rows of the ``agents`` and ``agent_capabilities`` tables (built by migration 0002).

    Every method runs in its own transaction. Times are stored and returned in UTC.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._url = engine.url.render_as_string(hide_password=False)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        # Only the checkout is translated: statement errors keep their own types.
        async with translate_connect_errors(self._url):
            connection = await self._engine.connect()
        try:
            async with connection.begin():
                yield connection
        finally:
            await connection.close()

    async def upsert(self, descriptor: AgentDescriptor, now: datetime) -> StoredAgent:
        """Register an agent, or replace the descriptor of an already registered one.

        Registering again is idempotent: the heartbeat columns, the heartbeat count and
        ``registered_at`` are kept; ``updated_at`` becomes ``now``.

        Raises:
            ValidationError: the metadata is not JSON, or its location is too long.
        """
        return (await self.upsert_many([descriptor_values(descriptor)], now))[0]

    async def upsert_many(
        self, values: builtins.list[dict[str, Any]], now: datetime
    ) -> builtins.list[StoredAgent]:
        """:meth:`upsert` of many agents in one transaction; ``values`` are
        ``descriptor_values`` of their descriptors (checked before any is written). An agent
        given twice ends with its last descriptor. Returns each one's row, in order."""
        now = utc(now)
        last = {v["agent_id"]: v for v in values}  # the last descriptor of each agent wins
        ids = builtins.list(last)
        async with self._transaction() as connection:
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            statement = insert(AGENTS)
            replaced = {name: statement.excluded[name] for name in _DESCRIPTOR_COLUMNS}
            # RETURNING makes SQLAlchemy send the rows as multi-row INSERTs ("insertmanyvalues")
            # instead of one statement per row, and hands back each row as upserted.
            upserted = await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[AGENTS.c.agent_id],
                    set_={**replaced, "updated_at": statement.excluded.updated_at},
                ).returning(*AGENTS.c),
                [
                    {
                        **v,
                        "registered_at": now,
                        "updated_at": now,
                        "heartbeat_count": 0,
                        "status": AgentStatus.ACTIVE.value,
                        "status_changed_at": now,
                    }
                    for v in last.values()
                ],
            )
            rows = {row.agent_id: StoredAgent.from_row(row, last[row.agent_id]) for row in upserted}
            # The upsert above locks the agents' rows, so concurrent registrations of one
            # agent replace its capabilities one after the other.
            for chunk in _chunks(ids):
                await connection.execute(
                    delete(CAPABILITIES).where(CAPABILITIES.c.agent_id.in_(chunk))
                )
            capabilities = [
                {"agent_id": agent_id, "capability": c}
                for agent_id, v in last.items()
                for c in dict.fromkeys(v["capabilities"])
            ]
            if capabilities and connection.dialect.name == "postgresql":
                # One statement over two arrays: a thousand agents' capabilities in one
                # round trip and one plan, instead of a statement per row.
                await connection.execute(
                    _INSERT_CAPABILITIES_PG,
                    {
                        "agent_ids": [c["agent_id"] for c in capabilities],
                        "capabilities": [c["capability"] for c in capabilities],
                    },
                )
            elif capabilities:
                await connection.execute(
                    insert(CAPABILITIES)
                    .on_conflict_do_nothing()
                    .returning(CAPABILITIES.c.agent_id),  # multi-row INSERTs, as above
                    capabilities,
                )
        return [rows[v["agent_id"]] for v in values]

    async def get(self, agent_id: str) -> StoredAgent | None:
        """The agent's row, or None when it is not registered."""
        async with self._transaction() as connection:
            row = (
                await connection.execute(select(AGENTS).where(AGENTS.c.agent_id == agent_id))
            ).one_or_none()
        return StoredAgent.from_row(row) if row is not None else None

    async def list(self, status: AgentStatus | None = None) -> builtins.list[StoredAgent]:
        """Every agent ordered by id, optionally only those whose written status is ``status``."""
        query = select(AGENTS).order_by(AGENTS.c.agent_id)
        if status is not None:
            query = query.where(AGENTS.c.status == AgentStatus(status).value)
        async with self._transaction() as connection:
            rows = (await connection.execute(query)).all()
        return [StoredAgent.from_row(row) for row in rows]

    async def known_ids(self) -> set[str]:
        """The ids of every registered agent."""
        return set(await self.known_statuses())

    async def known_statuses(self) -> dict[str, AgentStatus]:
        """Every registered agent's id and written status."""
        async with self._transaction() as connection:
            rows = (await connection.execute(select(AGENTS.c.agent_id, AGENTS.c.status))).all()
        return {agent_id: AgentStatus(status) for agent_id, status in rows}

    async def delete(self, agent_id: str) -> bool:
        """Remove the agent (its capabilities go with it). False when it was not registered."""
        async with self._transaction() as connection:
            result = await connection.execute(delete(AGENTS).where(AGENTS.c.agent_id == agent_id))
        return result.rowcount > 0

    async def evict(
        self, agent_ids: Iterable[str], *, silent_since: datetime
    ) -> builtins.list[str]:
        """Remove those of ``agent_ids`` not seen since ``silent_since``; return the removed ids.

        An agent that heartbeated or registered again at or after ``silent_since`` (through
        any registry process) is kept.
        """
        cutoff = utc(silent_since)
        ids = sorted(set(agent_ids))
        removed: builtins.list[str] = []
        async with self._transaction() as connection:
            for chunk in _chunks(ids):
                statement = (
                    delete(AGENTS)
                    .where(AGENTS.c.agent_id.in_(chunk))
                    .where(AGENTS.c.updated_at < cutoff)
                    .where(
                        AGENTS.c.last_heartbeat_at.is_(None) | (AGENTS.c.last_heartbeat_at < cutoff)
                    )
                    .returning(AGENTS.c.agent_id)
                )
                removed.extend((await connection.execute(statement)).scalars())
        return sorted(removed)

    async def apply_heartbeats(self, batch: Mapping[str, HeartbeatSample]) -> builtins.list[str]:
        """Write one coalesced heartbeat per agent, in one batched statement.

        Each agent's last-heartbeat columns take the sample's values and its heartbeat count
        grows by ``sample.count``.

        Args:
            batch: the newest sample of each agent, already coalesced by the caller.

        Returns:
            The ids in ``batch`` that are not registered (nothing was written for them).
        """
        if not batch:
            return []
        samples = {agent_id: sample for agent_id, sample in batch.items()}
        async with self._transaction() as connection:
            updated = await write_heartbeats(connection, samples)
        return sorted(set(samples) - updated)

    async def set_status(self, agent_id: str, status: AgentStatus, now: datetime) -> bool:
        """Write the agent's status. False when it is not registered."""
        async with self._transaction() as connection:
            result = await connection.execute(
                update(AGENTS)
                .where(AGENTS.c.agent_id == agent_id)
                .values(status=AgentStatus(status).value, status_changed_at=utc(now))
            )
        return result.rowcount > 0

    async def set_statuses(self, changes: Mapping[str, AgentStatus], now: datetime) -> None:
        """Write several agents' statuses in one batched statement (unknown ids are skipped)."""
        if not changes:
            return
        now = utc(now)
        statement = (
            update(AGENTS)
            .where(AGENTS.c.agent_id == bindparam("b_agent_id"))
            .values(status=bindparam("b_status"), status_changed_at=bindparam("b_now"))
        )
        params = [
            {"b_agent_id": agent_id, "b_status": AgentStatus(status).value, "b_now": now}
            for agent_id, status in changes.items()
        ]
        async with self._transaction() as connection:
            await connection.execute(statement, params)

    async def candidates(
        self,
        capabilities: Iterable[str] = (),
        service_types: Iterable[str] = (),
        tags: Iterable[str] = (),
        limit: int | None = None,
    ) -> builtins.list[StoredAgent]:
        """Agents having every one of ``capabilities``, any of ``service_types`` and any of
        ``tags`` (an empty filter matches all), ordered by id; see :class:`CandidateFilter`.
        """
        where = CandidateFilter.of(capabilities, service_types, tags)
        async with self._transaction() as connection:
            rows = (
                await connection.execute(where.where(select(AGENTS).order_by(AGENTS.c.agent_id)))
            ).all()
        found: builtins.list[StoredAgent] = []
        for row in rows:
            if where.accepts(row.service_types, row.tags):
                found.append(StoredAgent.from_row(row))
                if limit is not None and len(found) >= limit:
                    break
        return found

    async def summaries(
        self,
        capabilities: Iterable[str] = (),
        service_types: Iterable[str] = (),
        tags: Iterable[str] = (),
        *,
        with_tags: bool = False,
    ) -> builtins.list[AgentSummary]:
        """Like :meth:`candidates`, but only the columns discovery ranks on (much cheaper).

        Args:
            with_tags: include each agent's tags (for location matching).
        """
        where = CandidateFilter.of(capabilities, service_types, tags)
        async with self._transaction() as connection:
            return await select_summaries(connection, where, with_tags=with_tags)

    async def read_changes(
        self, since: datetime | None, *, heartbeats: bool = True
    ) -> AgentChanges:
        """The heartbeat and status columns of the agents changed at or after ``since`` (of
        every agent when None; see :func:`~registry.store.changes.select_changes`), with the
        number of agents and the sum of their heartbeat counts, in one transaction."""
        async with self._transaction() as connection:
            return await select_changes(connection, since, heartbeats=heartbeats)

    async def get_many(self, agent_ids: Iterable[str]) -> dict[str, StoredAgent]:
        """The rows of those of ``agent_ids`` that are registered, by id."""
        ids = sorted(set(agent_ids))
        found: dict[str, StoredAgent] = {}
        async with self._transaction() as connection:
            for chunk in _chunks(ids):
                rows = await connection.execute(select(AGENTS).where(AGENTS.c.agent_id.in_(chunk)))
                found.update((row.agent_id, StoredAgent.from_row(row)) for row in rows)
        return found
