"""Heartbeats accepted but not yet in the agents' rows: the buffer and the batch being written.

A flush takes the buffer's samples, writes them, then records them in the snapshot. While
the write is under way they are in neither the buffer nor the rows; reads look them up here,
so that an agent does not look silent for the length of a database write.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from registry.heartbeats.buffer import HeartbeatBuffer
from registry.records import HeartbeatSample, PendingSamples

__all__ = ["SampleBuffer", "Unwritten"]


class SampleBuffer(HeartbeatBuffer):
    """A :class:`HeartbeatBuffer` whose samples can be read as a mapping (a lookup per agent
    in a loop over thousands of agents is then a dict lookup, not a method call)."""

    @property
    def samples(self) -> Mapping[str, HeartbeatSample]:
        return self._pending


class Unwritten:
    """The buffer's samples, over those of the batch being written (see the module doc)."""

    def __init__(self, buffer: SampleBuffer) -> None:
        self._buffer = buffer
        self._writing: Mapping[str, HeartbeatSample] = {}

    @property
    def writing(self) -> Mapping[str, HeartbeatSample]:
        return self._writing

    @writing.setter
    def writing(self, batch: Mapping[str, HeartbeatSample]) -> None:
        self._writing = batch

    def view(self) -> PendingSamples:
        """A lookup for one read: the buffer's own mapping when no batch is being written."""
        return self if self._writing else self._buffer.samples

    def __iter__(self) -> Iterator[str]:
        """The ids of the agents with an unwritten sample."""
        yield from self._buffer.samples
        buffered = self._buffer.samples
        yield from (agent_id for agent_id in self._writing if agent_id not in buffered)

    def get(self, agent_id: str) -> HeartbeatSample | None:
        """The agent's newest unwritten sample, standing for every unwritten heartbeat."""
        newer = self._buffer.get(agent_id)
        if not self._writing:
            return newer
        older = self._writing.get(agent_id)
        if older is None:
            return newer
        if newer is None:
            return older
        # As HeartbeatBuffer.restore merges them: the newest values, every heartbeat counted.
        return HeartbeatSample(newer.metrics, newer.at, newer.count + older.count)
