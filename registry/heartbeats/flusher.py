"""Writing accepted heartbeats in batches, and keeping the snapshot and statuses in step.

One flush at a time (:attr:`HeartbeatFlusher.lock`): it takes the buffer's samples, writes
them in one statement, records them in the snapshot and writes the status changes they cause.
While the write is under way, reads find the samples through :attr:`HeartbeatFlusher.unwritten`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from registry.health.policy import HealthAssessment, HealthPolicy
from registry.health.status_book import StatusBook
from registry.heartbeats.unwritten import SampleBuffer, Unwritten
from registry.records import StatusChange
from registry.snapshot.agents import AgentSnapshot
from registry.snapshot.search import assess_samples
from registry.store.agents import AgentStore

__all__ = ["HeartbeatFlusher"]

logger = logging.getLogger(__name__)


class HeartbeatFlusher:
    """The write side of the registry's heartbeats.

    Args:
        snapshot: records what was written.
        book: the statuses written; status changes go through it.
        policy: the registry's timing (for the statuses of fresh heartbeats).
        clock: the registry's clock.
    """

    def __init__(
        self,
        snapshot: AgentSnapshot,
        book: StatusBook,
        policy: HealthPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._snapshot = snapshot
        self._book = book
        self._policy = policy
        self._clock = clock
        self.buffer = SampleBuffer()
        self.unwritten = Unwritten(self.buffer)
        self.lock = asyncio.Lock()

    async def flush(self, store: AgentStore) -> tuple[int, list[StatusChange]]:
        """Write the buffered heartbeats; how many agents' were written, and status changes."""
        async with self.lock:
            return await self.flush_locked(store)

    async def flush_locked(self, store: AgentStore) -> tuple[int, list[StatusChange]]:
        """:meth:`flush`, for a caller holding :attr:`lock`."""
        batch = self.buffer.take()
        if not batch:
            return 0, []
        # Until recorded in the snapshot (below, without an await between), reads find the
        # batch here: the agents must not look silent while it is written.
        self.unwritten.writing = batch
        try:
            unknown: set[str] = set(await store.apply_heartbeats(batch))
        except BaseException:
            self.buffer.restore(batch)
            raise
        finally:
            self.unwritten.writing = {}
        for agent_id in sorted(unknown):
            self._book.forget(agent_id)
            self._snapshot.remove(agent_id)
            logger.warning(
                "dropped a heartbeat of agent %s: it was deregistered meanwhile", agent_id
            )
        now = self._clock()
        written = {a: s for a, s in batch.items() if a not in unknown}
        self._snapshot.record_heartbeats(written)
        assessments = assess_samples(self._snapshot, written, now, self._policy)
        return len(written), await self.write_statuses(store, assessments, now)

    async def write_statuses(
        self, store: AgentStore, assessments: Mapping[str, HealthAssessment], now: datetime
    ) -> list[StatusChange]:
        """Write the statuses that changed (see ``StatusBook.write_changes``), and record them."""
        changes = await self._book.write_changes(store, assessments, now)
        self._snapshot.record_statuses({c.agent_id: c.new for c in changes}, now)
        return changes
