"""The registry's in-memory copy of every agent, indexed for discovery.

It holds what discovery ranks on and returns (each agent's row, plus its metrics score and
last sign of life precomputed) and an index from capability, service type and tag to agent
ids. The database stays the source of truth: the registry updates this copy as its own writes
succeed (registration, deregistration, flushed heartbeats, status changes), reads heartbeats
not yet flushed through its buffer at query time, and re-synchronises it from the database
(:mod:`registry.snapshot.sync`) for what other registry processes wrote.

A re-synchronisation reads the database, awaiting, then applies what it read in one step.
Agents this process changed meanwhile are :meth:`AgentSnapshot.tracking` "touched", and the
re-synchronisation leaves them alone: what it read of them may predate the change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from registry.health.policy import metrics_score
from registry.models import AgentDescriptor, AgentStatus, ServiceType
from registry.records import HeartbeatMetrics, HeartbeatSample
from registry.store.agent_rows import StoredAgent, utc
from registry.store.changes import AgentChange

__all__ = ["BANDS", "AgentSnapshot", "SnapshotEntry", "SyncOutcome", "band_of", "micros"]

BANDS = 101
"""Score bands: agents are indexed by ``band_of(score)``, so discovery can look at the
agents that could rank first before the others (an agent's health never exceeds its score).
Band ``b`` below the top holds the scores with ``int(score * (BANDS - 1)) == b``; the top one
the perfect scores (often a tenth of a healthy fleet, all tied, so kept apart)."""
_SCALE = BANDS - 1


def band_of(score: float) -> int:
    """The band of a metrics score in [0, 1]: ``int(score * 100)``, 1.0 in the top one."""
    return min(_SCALE, int(score * _SCALE))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """``moment`` (timezone-aware) in whole microseconds since the epoch.

    Exact, unlike a float timestamp: differences of these, divided by 10**6, are the very
    floats ``timedelta.total_seconds()`` gives, so health computed from them is bit-identical.
    """
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(slots=True, eq=False)
class SnapshotEntry:
    """One agent as last known: its row, and what discovery ranks it on, derived from it.

    Attributes:
        row: the agent's row as this process last wrote or read it (replaced as a whole
            when its heartbeat or status columns change, never changed in place).
        score: :func:`registry.health.policy.metrics_score` of ``row.metrics``.
        last_seen: ``row.last_seen``, the later of its last heartbeat and registration.
        last_seen_us: ``last_seen`` as :func:`micros`.
        places: the casefolded location and tags (what ``location_preference`` matches).
        band: the score band the snapshot indexes it under (``band_of(score)`` once the
            snapshot has seen its latest score).
    """

    row: StoredAgent
    score: float = 1.0
    last_seen: datetime = _EPOCH
    last_seen_us: int = 0
    places: frozenset[str] = field(default_factory=frozenset)
    band: int = BANDS - 1

    @classmethod
    def of(cls, row: StoredAgent) -> SnapshotEntry:
        entry = cls(row)
        places = {tag.casefold() for tag in row.descriptor.tags}
        if row.location is not None:
            places.add(row.location.casefold())
        entry.places = frozenset(places)
        entry.derive()
        return entry

    @property
    def agent_id(self) -> str:
        return self.row.descriptor.agent_id

    def derive(self) -> None:
        """Recompute the score and the last sign of life from the row's heartbeat columns."""
        self.score = metrics_score(self.row.metrics)
        self.last_seen = self.row.last_seen
        self.last_seen_us = micros(self.last_seen)

    def take(self, change: AgentChange) -> bool:
        """Copy the heartbeat and status columns of ``change``; True when anything differed."""
        row = self.row
        metrics = row.metrics
        reading = change.reading
        if reading is None:
            metrics = None
        elif metrics is None or (
            metrics.cpu_usage,
            metrics.error_rate,
            metrics.response_time_ms,
        ) != tuple(reading):
            metrics = HeartbeatMetrics(
                cpu_usage=reading.cpu_usage,
                error_rate=reading.error_rate,
                response_time_ms=reading.response_time_ms,
            )
        if (
            metrics is row.metrics
            and change.last_heartbeat_at == row.last_heartbeat_at
            and change.heartbeat_count == row.heartbeat_count
            and change.status is row.status
            and change.status_changed_at == row.status_changed_at
        ):
            return False
        self.row = replace(
            row,
            metrics=metrics,
            last_heartbeat_at=change.last_heartbeat_at,
            heartbeat_count=change.heartbeat_count,
            status=change.status,
            status_changed_at=change.status_changed_at,
        )
        self.derive()
        return True


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """What one re-synchronisation changed in the snapshot.

    Attributes:
        added: agents it did not know (registered through another process), by id.
        removed: agents gone from the database (deregistered or evicted elsewhere).
        updated: known agents whose row changed (heartbeats, status, re-registration).
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    updated: int = 0


class AgentSnapshot:
    """Every registered agent as last known, with the indexes discovery looks up."""

    def __init__(self) -> None:
        self._entries: dict[str, SnapshotEntry] = {}
        self._by_capability: dict[str, set[str]] = {}
        self._by_service_type: dict[str, set[str]] = {}
        self._by_tag: dict[str, set[str]] = {}
        self._bands: list[set[str]] = [set() for _ in range(BANDS)]
        self._heartbeats = 0
        self._touched: set[str] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._entries

    @property
    def entries(self) -> Mapping[str, SnapshotEntry]:
        return self._entries

    @property
    def heartbeats(self) -> int:
        """The sum of every agent's heartbeat count (what ``AgentChanges.heartbeats`` sums)."""
        return self._heartbeats

    def get(self, agent_id: str) -> SnapshotEntry | None:
        return self._entries.get(agent_id)

    # -- what this process wrote -------------------------------------------------------

    def load(self, rows: Iterable[StoredAgent]) -> None:
        """Replace the whole snapshot with ``rows``."""
        self._entries.clear()
        self._heartbeats = 0
        for index in (self._by_capability, self._by_service_type, self._by_tag):
            index.clear()
        for band in self._bands:
            band.clear()
        for row in rows:
            self._put(row)

    def put(self, row: StoredAgent) -> None:
        """The agent was (re-)registered: ``row`` is its row as written."""
        self._touch(row.agent_id)
        self._put(row)

    def remove(self, agent_id: str) -> None:
        """The agent was deregistered or evicted."""
        self._touch(agent_id)
        self._remove(agent_id)

    def record_heartbeats(self, written: Mapping[str, HeartbeatSample]) -> None:
        """These coalesced heartbeats were written (as ``AgentStore.apply_heartbeats`` does)."""
        for agent_id, sample in written.items():
            entry = self._entries.get(agent_id)
            if entry is None:
                continue
            self._touch(agent_id)
            entry.row = replace(
                entry.row,
                last_heartbeat_at=utc(sample.at),
                metrics=sample.metrics,
                heartbeat_count=entry.row.heartbeat_count + sample.count,
            )
            self._heartbeats += sample.count
            entry.derive()
            self._rebind(entry, agent_id)

    def record_statuses(self, statuses: Mapping[str, AgentStatus], now: datetime) -> None:
        """These statuses were written at ``now`` (as ``AgentStore.set_statuses`` does)."""
        moment = utc(now)
        for agent_id, status in statuses.items():
            entry = self._entries.get(agent_id)
            if entry is not None:
                self._touch(agent_id)
                entry.row = replace(entry.row, status=AgentStatus(status), status_changed_at=moment)

    # -- what the database says ----------------------------------------------------------

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Record the agents this process changes until :meth:`apply` (see the module doc)."""
        self._touched = set()
        try:
            yield
        finally:
            self._touched = None

    def apply(
        self,
        changes: Iterable[AgentChange],
        rows: Mapping[str, StoredAgent],
        present: Collection[str] | None = None,
    ) -> SyncOutcome:
        """Bring the snapshot in line with what was read from the database.

        Args:
            changes: the heartbeat and status columns of changed agents.
            rows: full rows of agents that are new or were registered again.
            present: every id in the database, when it was read; others are then removed.
        """
        touched = self._touched or set()
        added: list[str] = []
        updated = 0
        for agent_id, row in rows.items():
            if agent_id in touched:
                continue
            if agent_id in self._entries:
                updated += 1
            else:
                added.append(agent_id)
            self._put(row)
        for change in changes:
            if change.agent_id in touched or change.agent_id in rows:
                continue
            entry = self._entries.get(change.agent_id)
            # A moved updated_at whose full row was not read: the agent went meanwhile.
            if entry is None or entry.row.updated_at != change.updated_at:
                continue
            before = entry.row.heartbeat_count
            if entry.take(change):
                self._heartbeats += entry.row.heartbeat_count - before
                self._rebind(entry, change.agent_id)
                updated += 1
        removed: list[str] = []
        if present is not None:
            wanted = present if isinstance(present, set | frozenset) else set(present)
            removed = [a for a in self._entries if a not in wanted and a not in touched]
            for agent_id in removed:
                self._remove(agent_id)
        return SyncOutcome(tuple(sorted(added)), tuple(sorted(removed)), updated)

    # -- lookups -------------------------------------------------------------------------

    def matching(
        self,
        capabilities: Iterable[str] = (),
        service_types: Iterable[ServiceType] = (),
        tags: Iterable[str] = (),
    ) -> Collection[str]:
        """Ids of the agents with every one of ``capabilities``, any of ``service_types`` and
        any of ``tags`` (an empty filter matches all). Do not keep the result: it may be an
        index's own set."""
        groups: list[set[str]] = []
        for capability in capabilities:
            having = self._by_capability.get(capability)
            if not having:
                return ()
            groups.append(having)
        for index, names in (
            (self._by_service_type, [s.value for s in service_types]),
            (self._by_tag, list(tags)),
        ):
            if names:
                having = set().union(*(index.get(name, ()) for name in names))
                if not having:
                    return ()
                groups.append(having)
        if not groups:
            return self._entries.keys()
        groups.sort(key=len)
        return groups[0].intersection(*groups[1:]) if len(groups) > 1 else groups[0]

    def band(self, index: int) -> set[str]:
        """Ids of the agents whose score is in band ``index`` (do not keep or change it)."""
        return self._bands[index]

    # -- internals -----------------------------------------------------------------------

    def _rebind(self, entry: SnapshotEntry, agent_id: str) -> None:
        band = band_of(entry.score)
        if band != entry.band:
            self._bands[entry.band].discard(agent_id)
            self._bands[band].add(agent_id)
            entry.band = band

    def _touch(self, agent_id: str) -> None:
        if self._touched is not None:
            self._touched.add(agent_id)

    def _put(self, row: StoredAgent) -> None:
        self._remove(row.agent_id)
        entry = SnapshotEntry.of(row)
        agent_id = row.agent_id
        self._entries[agent_id] = entry
        entry.band = band_of(entry.score)
        self._bands[entry.band].add(agent_id)
        self._heartbeats += row.heartbeat_count
        for index, names in self._names(row.descriptor):
            for name in names:
                index.setdefault(name, set()).add(agent_id)

    def _remove(self, agent_id: str) -> None:
        entry = self._entries.pop(agent_id, None)
        if entry is None:
            return
        self._heartbeats -= entry.row.heartbeat_count
        self._bands[entry.band].discard(agent_id)
        for index, names in self._names(entry.row.descriptor):
            for name in names:
                having = index.get(name)
                if having is not None:
                    having.discard(agent_id)
                    if not having:
                        del index[name]

    def _names(self, descriptor: AgentDescriptor) -> list[tuple[dict[str, set[str]], list[str]]]:
        return [
            (self._by_capability, descriptor.capabilities),
            (self._by_service_type, [s.value for s in descriptor.service_types]),
            (self._by_tag, descriptor.tags),
        ]
