"""The agent registry on a database: registration, heartbeats, discovery, health checks.

Writes are shaped for a large fleet: heartbeats are validated, checked against the set of
known agents and coalesced per agent in memory, then written in one batched statement every
``flush_interval_s`` (100 ms) or as soon as ``max_pending`` (1,000) agents are waiting, and on
close. Registrations, deregistrations and status changes are written at once. Health and
status are computed at read time (:mod:`registry.health`), so reads never wait for a check.

Discovery and the health checker read an in-memory snapshot of the agents
(:mod:`registry.snapshot`), not the database: it is loaded in :meth:`initialize`, follows this
process's writes at once, and is re-synchronised from the database every ``sync_interval_s``
(1 s) for what other registry processes on the same database write. Those changes reach this
process's discovery within about ``sync_interval_s`` plus their writer's flush interval; see
:mod:`registry.snapshot_sync` for the exact bound. :meth:`LocalAgentRegistry.discover_from_database`
answers the same query from the database itself.

Example:
    ```python
    async with LocalAgentRegistry(url, policy=HealthPolicy(heartbeat_interval_s=30)) as registry:
        await registry.register(descriptor)
        await registry.heartbeat("agent-calculator-001", {"cpu_usage": 0.45})
        agents = await registry.discover(capabilities=["carbon_calculation"])
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncEngine

from orchestration.core.coalescing import Coalescer
from orchestration.core.exceptions import (
    AgentNotFoundError,
    RegistryError,
    ValidationError,
)
from orchestration.core.lifecycle import AsyncResource
from registry.background import run_every
from registry.database_discovery import discover_in_database
from registry.discovery import DiscoveryQuery
from registry.health.policy import HealthAssessment, HealthPolicy, should_pause_eviction
from registry.health.status_book import StatusBook
from registry.heartbeats.flusher import HeartbeatFlusher
from registry.heartbeats.parsing import parse_metrics
from registry.metrics import registry_discovery_latency_ms, registry_heartbeats_total
from registry.models import AgentDescriptor, AgentStatus
from registry.records import HealthCheckSummary, RegisteredAgent
from registry.snapshot.agents import AgentSnapshot, SyncOutcome
from registry.snapshot.health_check import run_snapshot_health_check
from registry.snapshot.search import routable_health, search, views
from registry.snapshot.sync import SnapshotSync
from registry.store.agent_rows import descriptor_values, descriptors_values
from registry.store.agents import AgentStore, StoredAgent
from registry.store.engine import create_engine
from registry.store.migrations import upgrade
from registry.views import assess_agent, registered_agent

__all__ = ["LocalAgentRegistry"]

_LOGGED_ONE_BY_ONE = 10
"""A batch of registrations up to this size logs a line per agent; a larger one, one line."""

logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _check_positive(field: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        problem = f"must be a positive number (got {value!r})"
        raise ValidationError.about(field, problem)


class LocalAgentRegistry(AsyncResource):
    """The quick reference's ``AgentRegistry``, on Postgres or SQLite.

    Args:
        url_or_engine: a database URL (the registry then owns its engine) or an engine the
            caller owns and disposes of.
        policy: heartbeat interval, health check interval and deregistration timeout.
        clock: returns the current time; tests pass one they control.
        migrate: apply pending migrations in :meth:`initialize`
            (``settings.database.auto_migrate``).
        background: run the heartbeat flusher, the health checker and the snapshot's
            re-synchronisation as tasks; without them, call :meth:`flush` and
            :meth:`check_health` yourself, and :meth:`discover` and :meth:`list_agents`
            re-synchronise the snapshot before every answer.
        flush_interval_s: how often pending heartbeats are written.
        max_pending: write at once when this many agents have pending heartbeats.
        self_preservation_threshold: the fraction of silent agents above which eviction pauses.
        sync_interval_s: how often the snapshot is re-synchronised from the database. A read
            finding it unconfirmed for twice as long re-synchronises first (and fails while
            the database is unreachable, rather than answer from an unconfirmed snapshot).
        max_health_series: at most this many ``registry_agent_health{agent_id}`` series; past
            it the least healthy agents are published (see :class:`StatusBook`).
    """

    def __init__(
        self,
        url_or_engine: str | AsyncEngine,
        *,
        policy: HealthPolicy | None = None,
        clock: Callable[[], datetime] = _utcnow,
        migrate: bool = True,
        background: bool = True,
        flush_interval_s: float = 0.1,
        max_pending: int = 1000,
        self_preservation_threshold: float = 0.5,
        sync_interval_s: float = 1.0,
        max_health_series: int = 500,
    ) -> None:
        _check_positive("flush_interval_s", flush_interval_s)
        _check_positive("max_pending", max_pending)
        _check_positive("sync_interval_s", sync_interval_s)
        _check_positive("max_health_series", max_health_series)
        # Raises a ValidationError naming "threshold" when outside (0, 1].
        should_pause_eviction(1, 0, self_preservation_threshold)
        if isinstance(url_or_engine, str):
            self._url, self._engine = url_or_engine, None
        else:
            self._url = url_or_engine.url.render_as_string(hide_password=False)
            self._engine = url_or_engine
        self._owns_engine = self._engine is None
        self._policy = policy or HealthPolicy()
        self._clock = clock
        self._migrate = migrate
        self._background = background
        self._flush_interval_s = flush_interval_s
        self._max_pending = max_pending
        self._threshold = self_preservation_threshold
        self._sync_interval_s = sync_interval_s
        # Without the background task, nothing else bounds the snapshot's age.
        self._max_staleness_s = 2 * sync_interval_s if background else 0.0
        self._store: AgentStore | None = None
        self._snapshot = AgentSnapshot()
        self._sync: SnapshotSync | None = None
        self._known = StatusBook(
            self_preservation_threshold=self_preservation_threshold,
            max_health_series=max_health_series,
        )
        self._flusher = HeartbeatFlusher(self._snapshot, self._known, self._policy, self._now)
        # SQLite has one writer at a time; Postgres overlaps two transactions' round trips.
        writers = 2 if self._url.startswith("postgresql") else 1
        self._registrations: Coalescer[dict[str, Any], RegisteredAgent] = Coalescer(
            self._write_registrations, max_in_flight=writers, max_records=1_000
        )
        self._pending = self._flusher.buffer
        self._unwritten = self._flusher.unwritten
        self._flush_lock = self._flusher.lock
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @property
    def policy(self) -> HealthPolicy:
        return self._policy

    @property
    def pending_heartbeats(self) -> int:
        """Agents whose latest heartbeat is accepted but not written yet."""
        return len(self._pending)

    @property
    def eviction_paused(self) -> bool:
        """True while self-preservation holds back eviction (as of the last health check)."""
        return self._known.eviction_paused

    async def initialize(self) -> None:
        """Apply migrations (when asked), load the known agents, start the background tasks.

        Raises:
            DatabaseUnavailableError: the database cannot be reached (retriable).
        """
        if self._store is not None:
            return
        if self._migrate:
            await upgrade(self._url)
        if self._engine is None:
            self._engine = create_engine(self._url)
        store = AgentStore(self._engine)
        sync = SnapshotSync(
            store, self._snapshot, self._now, writes=self._flush_lock, on_outcome=self._follow
        )
        await sync.load()
        entries = self._snapshot.entries
        self._known.remember({a: e.row.status for a, e in entries.items()})
        # The gauges show the stored statuses and scores until the first health check.
        self._known.publish(
            {a: HealthAssessment(e.score, e.row.status, 0.0) for a, e in entries.items()}
        )
        self._store, self._sync = store, sync
        if self._background:
            self._tasks = [
                asyncio.create_task(
                    run_every("heartbeat flush", self._flush_interval_s, self.flush)
                ),
                asyncio.create_task(
                    run_every(
                        "health check", self._policy.health_check_interval_s, self.check_health
                    )
                ),
                asyncio.create_task(run_every("snapshot sync", self._sync_interval_s, sync.due)),
            ]
        logger.info("agent registry ready with %d registered agents", len(self._known))

    async def close(self) -> None:
        """Stop the background tasks, write pending heartbeats, release an owned engine."""
        if self._closed:
            return
        self._closed = True
        await self._registrations.drain()  # registrations already accepted are written
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            if self._store is not None:
                await self._flusher.flush(self._store)
        finally:
            if self._owns_engine and self._engine is not None:
                await self._engine.dispose()

    async def register(self, descriptor: AgentDescriptor) -> RegisteredAgent:
        """Register an agent; registering it again updates its descriptor (idempotent).

        Its heartbeat history is kept, and the registration counts as a sign of life.
        Registrations that run concurrently share one transaction (see
        :mod:`orchestration.core.coalescing`); each returns once its agent is written.

        Raises:
            ValidationError: the descriptor's metadata is not JSON (this registration fails
                alone, before anything is written).
        """
        self._require()
        values = descriptor_values(descriptor)
        return await self._registrations.submit(values)

    async def register_many(self, descriptors: Sequence[AgentDescriptor]) -> list[RegisteredAgent]:
        """Register many agents; their views, in order.

        Every descriptor is checked before any is written. They are written like concurrent
        :meth:`register` calls (and with them): 1,000 agents per transaction.

        Raises:
            ValidationError: a descriptor is invalid (``errors`` names its index); then none
                is written.
        """
        self._require()
        futures = [self._registrations.submit(v) for v in descriptors_values(descriptors)]
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return cast(list[RegisteredAgent], results)

    async def _write_registrations(self, values: Sequence[dict[str, Any]]) -> list[RegisteredAgent]:
        store = self._require()
        now = self._now()
        rows = await store.upsert_many(list(values), now)
        again = [row.agent_id in self._known for row in rows]
        self._known.remember({row.agent_id: row.status for row in rows})
        assessments = {}
        for row in rows:
            self._snapshot.put(row)
            assessments[row.agent_id] = assess_agent(
                row, self._unwritten.get(row.agent_id), now, self._policy
            )
        await self._flusher.write_statuses(store, assessments, now)
        if len(rows) <= _LOGGED_ONE_BY_ONE:
            for row, was_known in zip(rows, again, strict=True):
                logger.info(
                    "agent %s %s: %s %s, capabilities [%s], location %s",
                    row.agent_id,
                    "registered again" if was_known else "registered",
                    row.descriptor.agent_type,
                    row.descriptor.version,
                    ", ".join(row.descriptor.capabilities),
                    row.location or "unknown",
                )
        else:
            logger.info(
                "%d agents registered (%d again), from %s to %s",
                len(rows), sum(again), rows[0].agent_id, rows[-1].agent_id,
            )  # fmt: skip
        return [self._view(row, now) for row in rows]

    async def heartbeat(self, agent_id: str, metrics: Mapping[str, Any] | None = None) -> None:
        """Accept a heartbeat; it is written with the next batch.

        Args:
            agent_id: a registered agent.
            metrics: ``cpu_usage`` (0..1), ``error_rate`` (0..1) and ``response_time_ms``
                (>= 0), each optional; other keys are ignored.

        Raises:
            ValidationError: a metric is invalid (``errors`` names it).
            AgentNotFoundError: the agent is not registered; nothing is recorded.
        """
        store = self._require()
        parsed = parse_metrics(metrics)
        if not isinstance(agent_id, str):
            problem = "must be a string"
            raise ValidationError.about("agent_id", problem)
        if agent_id not in self._known:
            # Another registry process may have registered it since the known set was loaded.
            row = await store.get(agent_id)
            if row is None:
                raise AgentNotFoundError(agent_id)
            self._known.remember({agent_id: row.status})
            self._snapshot.put(row)
        self._pending.add(agent_id, parsed, self._now())
        registry_heartbeats_total.inc()
        # While a flush is writing, the buffer keeps filling (it holds one sample per agent,
        # so it is bounded by the fleet) and the next heartbeat after it starts the next
        # flush: queueing a flush per heartbeat behind the lock would write tiny batches.
        if len(self._pending) >= self._max_pending and not self._flush_lock.locked():
            await self._flusher.flush(store)

    async def flush(self) -> int:
        """Write the pending heartbeats now, in one batched statement.

        Returns:
            How many agents' heartbeats were written.
        """
        written, _ = await self._flusher.flush(self._require())
        return written

    async def discover(self, query: DiscoveryQuery) -> list[RegisteredAgent]:
        """Find usable agents, best first (see :mod:`registry.discovery` for the ranking).

        Answered from the in-memory snapshot: this process's writes show at once, other
        registry processes' within the bound of :mod:`registry.snapshot.sync`.
        """
        started = time.perf_counter()
        snapshot = await self._confirmed_snapshot()
        now = self._now()
        pending = self._unwritten.view()
        chosen = search(snapshot, pending, query, now, self._policy)
        found = views(chosen, pending, now, self._policy)
        registry_discovery_latency_ms.observe((time.perf_counter() - started) * 1000)
        return found

    async def routable_health(self, agent_ids: Collection[str]) -> dict[str, float]:
        """The health of those of ``agent_ids`` a message may be routed to (ACTIVE or
        DEGRADED), by id: what ``MessageRouter`` refreshes every second, from the snapshot."""
        snapshot = await self._confirmed_snapshot()
        return routable_health(
            snapshot, agent_ids, self._unwritten.view(), self._now(), self._policy
        )

    async def discover_from_database(self, query: DiscoveryQuery) -> list[RegisteredAgent]:
        """:meth:`discover`, answered from the database instead of the snapshot.

        Slower (it reads every candidate's row), but it sees what other registry processes
        wrote the moment they committed it. Same ranking.
        """
        store = self._require()
        return await discover_in_database(store, self._unwritten, query, self._now(), self._policy)

    async def refresh(self, *, full: bool = False) -> SyncOutcome:
        """Re-synchronise the snapshot from the database now (the background task does this
        every ``sync_interval_s``): incrementally, or with ``full`` from every row."""
        return await self._synchronizer().run(full=full)

    async def get_agent(self, agent_id: str) -> RegisteredAgent:
        """The agent with its health now.

        Raises:
            AgentNotFoundError: it is not registered.
        """
        row = await self._require().get(agent_id)
        if row is None:
            raise AgentNotFoundError(agent_id)
        return self._view(row, self._now())

    async def list_agents(self, status: AgentStatus | str | None = None) -> list[RegisteredAgent]:
        """Every registered agent ordered by id, optionally only those in ``status`` now.

        Raises:
            ValidationError: ``status`` is not an agent status.
        """
        wanted = AgentStatus.parse(status) if status is not None else None
        snapshot = await self._confirmed_snapshot()
        now = self._now()
        entries = snapshot.entries
        ordered = (entries[agent_id] for agent_id in sorted(entries))
        agents = views(ordered, self._unwritten.view(), now, self._policy)
        return [agent for agent in agents if wanted is None or agent.status is wanted]

    async def deregister(self, agent_id: str) -> bool:
        """Remove the agent now. False when it was not registered."""
        store = self._require()
        self._pending.discard(agent_id)
        removed = await store.delete(agent_id)
        self._known.forget(agent_id)
        self._snapshot.remove(agent_id)
        if removed:
            logger.info("agent %s deregistered on request", agent_id)
        return removed

    async def check_health(self) -> HealthCheckSummary:
        """One pass of the health checker.

        Writes pending heartbeats first, then every status change, and removes agents silent
        past the deregistration timeout unless self-preservation pauses eviction.
        """
        store = self._require()
        # Other processes' heartbeats matter to the statuses written here. (Before taking
        # the flush lock: a synchronisation takes it.)
        await self._synchronizer().run()
        # One pass at a time, and no flush in the middle of one: a flush writing a status
        # between this pass's read and its write would be overwritten with a stale status.
        async with self._flush_lock:
            return await self._check_health(store)

    async def _check_health(self, store: AgentStore) -> HealthCheckSummary:
        _, flushed = await self._flusher.flush_locked(store)
        summary = await run_snapshot_health_check(
            store,
            self._snapshot,
            self._known,
            self._unwritten,
            self._policy,
            self._now(),
            self_preservation_threshold=self._threshold,
        )
        return dataclasses.replace(summary, changes=(*flushed, *summary.changes))

    def _require(self) -> AgentStore:
        if self._closed:
            raise RegistryError("the agent registry is closed")
        if self._store is None:
            raise RegistryError("the agent registry is not initialized: call initialize() first")
        return self._store

    def _synchronizer(self) -> SnapshotSync:
        self._require()
        if self._sync is None:  # pragma: no cover - set together with the store
            raise RegistryError("the agent registry is not initialized: call initialize() first")
        return self._sync

    async def _confirmed_snapshot(self) -> AgentSnapshot:
        """The snapshot, re-synchronised first when it was not confirmed lately (then a
        database outage raises DatabaseUnavailableError, as any read does)."""
        await self._synchronizer().confirm(self._max_staleness_s)
        return self._snapshot

    def _now(self) -> datetime:
        now = self._clock()
        return now.replace(tzinfo=UTC) if now.tzinfo is None else now

    def _view(self, row: StoredAgent, now: datetime) -> RegisteredAgent:
        return registered_agent(row, self._unwritten.get(row.agent_id), now, self._policy)

    def _follow(self, outcome: SyncOutcome) -> None:
        """Keep the known agents in line with what a re-synchronisation found."""
        if outcome.added:
            entries = self._snapshot.entries
            self._known.remember({a: entries[a].row.status for a in outcome.added if a in entries})
        for agent_id in outcome.removed:
            self._known.forget(agent_id)
            self._pending.discard(agent_id)
