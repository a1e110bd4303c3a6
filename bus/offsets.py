"""Which offsets a consumer may commit when messages are handled out of order.

Records of one partition are handed out in offset order, but may be finished in any order (the
bridge signals several workflows at once). A partition's committable offset is the one after
the longest run of finished records from the front: committing past an unfinished record
would lose it if the consumer died.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from aiokafka.structs import ConsumerRecord, TopicPartition

__all__ = ["OffsetTracker", "Receipt"]


class Receipt:
    """One handed-out record; pass it back to finish it (``Subscription.ack``)."""

    __slots__ = ("done", "partition", "record")

    def __init__(self, partition: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        self.partition = partition
        self.record = record
        self.done = False

    @property
    def offset(self) -> int:
        return int(self.record.offset)


class OffsetTracker:
    """Open records per partition, in offset order, and the offset after the finished prefix."""

    def __init__(self) -> None:
        self._open: dict[TopicPartition, deque[Receipt]] = {}
        self._next: dict[TopicPartition, int] = {}

    def take(self, record: ConsumerRecord[bytes, bytes]) -> Receipt:
        """Register ``record`` as handed out (call in offset order per partition)."""
        partition = TopicPartition(record.topic, record.partition)
        receipt = Receipt(partition, record)
        self._open.setdefault(partition, deque()).append(receipt)
        return receipt

    def finish(self, receipt: Receipt) -> bool:
        """Mark ``receipt`` finished; True when its partition's committable offset moved."""
        receipt.done = True
        queue = self._open.get(receipt.partition)
        if not queue or queue[0] is not receipt:
            return False
        while queue and queue[0].done:
            self._next[receipt.partition] = queue.popleft().offset + 1
        return True

    def committable(self) -> dict[TopicPartition, int]:
        """Per partition, the offset after its finished prefix (partitions with progress)."""
        return dict(self._next)

    def unfinished(self) -> int:
        return sum(len(queue) for queue in self._open.values())

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """The partitions were taken away: drop their records and progress."""
        for partition in partitions:
            self._open.pop(partition, None)
            self._next.pop(partition, None)
