"""Accepted heartbeats waiting to be written, coalesced per agent."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from registry.records import HeartbeatMetrics, HeartbeatSample

__all__ = ["HeartbeatBuffer"]


class HeartbeatBuffer:
    """The newest heartbeat of each agent since the last write, and how many it stands for.

    N heartbeats from one agent between two writes become one sample: the newest metrics and
    time, with ``count == N``. The buffer's size is therefore bounded by the number of agents.
    """

    def __init__(self) -> None:
        self._pending: dict[str, HeartbeatSample] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, agent_id: str, metrics: HeartbeatMetrics, at: datetime) -> None:
        """Record a heartbeat, replacing the agent's pending sample."""
        previous = self._pending.get(agent_id)
        count = previous.count + 1 if previous is not None else 1
        self._pending[agent_id] = HeartbeatSample(metrics, at, count)

    def get(self, agent_id: str) -> HeartbeatSample | None:
        """The agent's pending sample, if any."""
        return self._pending.get(agent_id)

    def discard(self, agent_id: str) -> None:
        """Forget the agent's pending sample (it was deregistered)."""
        self._pending.pop(agent_id, None)

    def take(self) -> dict[str, HeartbeatSample]:
        """Remove and return every pending sample."""
        batch, self._pending = self._pending, {}
        return batch

    def restore(self, batch: Mapping[str, HeartbeatSample]) -> None:
        """Put back a batch whose write failed, under any newer samples that arrived since."""
        for agent_id, sample in batch.items():
            newer = self._pending.get(agent_id)
            if newer is None:
                self._pending[agent_id] = sample
            else:
                self._pending[agent_id] = HeartbeatSample(
                    newer.metrics, newer.at, newer.count + sample.count
                )
