"""Committable offsets when records of a partition are finished out of order."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord, TopicPartition

from bus.offsets import OffsetTracker

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def record(partition: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=partition.topic,
        partition=partition.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=b"",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=(),
    )


def test_the_committable_offset_stops_at_the_first_unfinished_record() -> None:
    tracker = OffsetTracker()
    first, second, third = (tracker.take(record(A, n)) for n in (10, 11, 12))
    assert tracker.committable() == {}
    assert not tracker.finish(third)  # finished early: nothing before it is done yet
    assert tracker.committable() == {}
    assert tracker.finish(first)
    assert tracker.committable() == {A: 11}
    assert tracker.finish(second)  # 11 and the already finished 12 go together
    assert tracker.committable() == {A: 13}
    assert tracker.unfinished() == 0


def test_partitions_are_independent_and_forgotten_when_revoked() -> None:
    tracker = OffsetTracker()
    a = tracker.take(record(A, 0))
    b0, b1 = tracker.take(record(B, 5)), tracker.take(record(B, 6))
    tracker.finish(b1)
    tracker.finish(a)
    assert tracker.committable() == {A: 1}
    tracker.forget([A])
    tracker.finish(b0)
    assert tracker.committable() == {B: 7}
