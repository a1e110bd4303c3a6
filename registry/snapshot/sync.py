"""Re-synchronising the registry's snapshot with the database, cheaply and periodically.

Several registry processes may share one database; each keeps its own snapshot
(:mod:`registry.snapshot`) and sees its own writes at once. What the *others* write arrives
through a re-synchronisation, every ``sync_interval_s`` (1 s) by default. ``since`` is the
start of the previous one minus :data:`OVERLAP_S`:

1. **probe**, while this process writes no heartbeats: the rows registered or given a status
   at or after ``since`` (a few), with ``COUNT(*)`` and ``SUM(heartbeat_count)``. Heartbeat
   counts only grow, so when the totals equal the snapshot's (adjusted by those rows), no
   other process wrote a heartbeat or removed an agent: done, without reading the fleet.
2. otherwise **incremental**: the heartbeat and status columns of every row changed at or
   after ``since``; and when the count still does not add up (an agent was deregistered or
   evicted elsewhere), every id, to drop the missing ones.

Rows that are new, or whose ``updated_at`` moved (registered again), are then read in full.
Every :data:`FULL_SYNC_INTERVAL_S` a background pass reads those columns of every row instead.

**Staleness bound.** A change committed through another registry process is in this
process's snapshot at most ``sync_interval_s`` plus two synchronisations' durations after it
was committed (a synchronisation takes a few milliseconds at 10,000 agents when only the
probe runs, tens when a fleet's worth of heartbeats must be read). A heartbeat is committed by
the process that took it within that process's ``flush_interval_s`` (0.1 s). So with the
defaults, registry processes on one database agree within about 1.2 s. Reads never answer from
a snapshot whose last successful synchronisation started more than ``2 x sync_interval_s``
ago: they re-synchronise first, and fail like any read while the database is unreachable
(``LocalAgentRegistry.discover``, ``list_agents``).

The incremental pass relies on the rows' times, which come from the writers' clocks: it
assumes those clocks agree, and heartbeats are committed, within :data:`OVERLAP_S` (2 s). A
heartbeat committed later than that (its flush retried through a database outage), a
registration by a process whose clock lags further, or a heartbeat elsewhere exactly offset by
deleted agents' counts in one interval, is picked up by the next full pass: the bound then
degrades to :data:`FULL_SYNC_INTERVAL_S` (60 s), never worse.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from registry.snapshot.agents import AgentSnapshot, SyncOutcome
from registry.store.agents import AgentStore
from registry.store.changes import AgentChanges

__all__ = ["FULL_SYNC_INTERVAL_S", "OVERLAP_S", "SnapshotSync"]

OVERLAP_S = 2.0
"""How far before the previous synchronisation an incremental one reads again."""
FULL_SYNC_INTERVAL_S = 60.0
"""How often a background synchronisation reads every row."""


class SnapshotSync:
    """Keeps ``snapshot`` in step with the ``agents`` table (see the module docstring).

    Args:
        store: the agents' rows.
        snapshot: the copy to keep in step.
        clock: the registry's clock (row times are written with it).
        writes: held by this process while it writes heartbeats (and records them in the
            snapshot); the probe holds it, so that its totals and the snapshot's agree.
        on_outcome: told what each synchronisation added and removed.
    """

    def __init__(
        self,
        store: AgentStore,
        snapshot: AgentSnapshot,
        clock: Callable[[], datetime],
        *,
        writes: asyncio.Lock,
        on_outcome: Callable[[SyncOutcome], None],
    ) -> None:
        self._store = store
        self._snapshot = snapshot
        self._clock = clock
        self._writes = writes
        self._on_outcome = on_outcome
        self._lock = asyncio.Lock()
        self._previous: datetime | None = None
        self._last_full = -float("inf")
        self._confirmed = -float("inf")

    @property
    def age_s(self) -> float:
        """Seconds since the start of the last successful synchronisation (or load)."""
        return time.monotonic() - self._confirmed

    async def load(self) -> None:
        """Fill the snapshot with every agent's full row."""
        async with self._lock:
            started, confirmed = self._clock(), time.monotonic()
            self._snapshot.load(await self._store.list())
            self._previous, self._last_full = started, confirmed
            self._confirmed = confirmed

    async def due(self) -> SyncOutcome:
        """One background pass: full when :data:`FULL_SYNC_INTERVAL_S` passed since the last."""
        full = time.monotonic() - self._last_full >= FULL_SYNC_INTERVAL_S
        return await self.run(full=full)

    async def confirm(self, max_age_s: float) -> None:
        """Re-synchronise unless the last synchronisation started within ``max_age_s``.

        Raises:
            DatabaseUnavailableError: the database cannot be reached.
        """
        if self.age_s > max_age_s:
            await self.run()

    async def run(self, *, full: bool = False) -> SyncOutcome:
        """Re-synchronise now: incrementally, or with ``full`` from every row.

        Never call this holding the ``writes`` lock: the probe takes it.
        """
        async with self._lock:
            started, confirmed = self._clock(), time.monotonic()
            since = None
            if not full and self._previous is not None:
                since = self._previous - timedelta(seconds=OVERLAP_S)
            with self._snapshot.tracking():
                read = None if since is None else await self._probe(since)
                outcome = await self._read_and_apply(since, read)
            self._previous, self._confirmed = started, confirmed
            if since is None:
                self._last_full = confirmed
            self._on_outcome(outcome)
            return outcome

    async def _probe(self, since: datetime) -> AgentChanges | None:
        """The registrations and status changes since ``since`` when nothing else changed,
        else None (then the incremental read is needed)."""
        async with self._writes:
            read = await self._store.read_changes(since, heartbeats=False)
            snapshot = self._snapshot
            agents, beats = len(snapshot), snapshot.heartbeats
            for change in read.rows:
                entry = snapshot.get(change.agent_id)
                agents += entry is None
                beats += change.heartbeat_count - (entry.row.heartbeat_count if entry else 0)
            return read if (read.total, read.heartbeats) == (agents, beats) else None

    async def _read_and_apply(
        self, since: datetime | None, read: AgentChanges | None
    ) -> SyncOutcome:
        snapshot = self._snapshot
        if read is None:
            read = await self._store.read_changes(since)
        changed = {change.agent_id for change in read.rows}
        present: set[str] | None = changed if since is None else None
        unknown = sum(1 for agent_id in changed if agent_id not in snapshot)
        if present is None and read.total != len(snapshot) + unknown:
            present = await self._store.known_ids()
        # A registration moves updated_at: only then can the descriptor have changed.
        needed = set()
        for change in read.rows:
            entry = snapshot.get(change.agent_id)
            if entry is None or entry.row.updated_at != change.updated_at:
                needed.add(change.agent_id)
        if present is not None:
            needed.update(a for a in present if a not in snapshot and a not in changed)
        rows = await self._store.get_many(needed) if needed else {}
        return snapshot.apply(read.rows, rows, present)
