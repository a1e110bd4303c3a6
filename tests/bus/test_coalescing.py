"""Concurrent ``publish`` calls share sends (bus/coalescing.py), and each still returns only
once its own message is stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from bus.batching import Record, Stored
from bus.coalescing import Coalescer
from bus.codec import decode
from bus.message import Message
from bus.message_bus import MessageBus
from bus.topics import lane_topic
from orchestration.core.exceptions import ValidationError
from tests.bus.helpers import read_records


class Recorder:
    """A send that stores records in a list (the coalescer's own contract, without a broker)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.fail = fail
        self.stored = 0

    async def __call__(self, records: Sequence[Record]) -> list[Stored]:
        self.calls.append(len(records))
        await asyncio.sleep(0.001)
        if self.fail:
            raise OSError("broker gone")
        first, self.stored = self.stored, self.stored + len(records)
        return [(r[0], 0, first + n) for n, r in enumerate(records)]


def record(n: int) -> Record:
    return ("t", b"k", str(n).encode(), [])


async def test_a_turns_concurrent_submits_go_in_one_send_each_getting_its_own_place() -> None:
    send = Recorder()
    coalescer = Coalescer(send)
    stored = await asyncio.gather(*(coalescer.submit(record(n)) for n in range(500)))
    assert send.calls == [500]
    assert [offset for _, _, offset in stored] == list(range(500))


async def test_records_queued_while_sends_run_go_in_the_next_ones() -> None:
    send = Recorder()
    coalescer = Coalescer(send, max_in_flight=1, max_records=100)

    async def producer(first: int) -> list[Stored]:
        return [await coalescer.submit(record(first + n)) for n in range(20)]

    results = await asyncio.gather(*(producer(100 * t) for t in range(50)))
    assert sum(send.calls) == 1000 and max(send.calls) <= 100
    assert len(send.calls) < 1000 / 10  # shared: far fewer sends than publishes
    for mine in results:  # one caller's records are stored in the order it published them
        assert [offset for _, _, offset in mine] == sorted(offset for _, _, offset in mine)


async def test_a_failed_send_fails_each_of_its_callers_and_the_next_send_works() -> None:
    send = Recorder(fail=True)
    coalescer = Coalescer(send)
    results = await asyncio.gather(
        *(coalescer.submit(record(n)) for n in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
    send.fail = False
    assert (await coalescer.submit(record(99)))[2] == 0


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    send = Recorder()
    coalescer = Coalescer(send)
    futures = [coalescer.submit(record(n)) for n in range(3)]
    futures[1].cancel()
    assert [(await f)[2] for f in (futures[0], futures[2])] == [0, 1]
    await coalescer.drain()
    assert send.calls == [2]


async def test_concurrent_publishes_are_each_stored_where_their_delivery_says(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"coalesce-{unique}"
    messages = [Message(sender_id=f"s{n % 7}", payload={"n": n}) for n in range(1000)]
    deliveries = await asyncio.gather(*(bus.publish(m, topic) for m in messages))
    records = await read_records(
        kafka_bootstrap_servers, lane_topic(topic, messages[0].priority), len(messages)
    )
    where = {(r.partition, r.offset): decode(r.value).message_id for r in records}
    assert len(where) == len(messages)
    for message, delivery in zip(messages, deliveries, strict=True):
        assert delivery.message_id == message.message_id
        assert where[delivery.partition, delivery.offset] == message.message_id


async def test_an_expired_message_among_concurrent_publishes_fails_alone(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"coalesce-expired-{unique}"
    fresh = [Message(sender_id="s", payload={"n": n}) for n in range(5)]
    stale = Message(sender_id="s", payload={}, expires_at=time.time() - 1)
    results = await asyncio.gather(
        *(bus.publish(m, topic) for m in [*fresh[:2], stale, *fresh[2:]]),
        return_exceptions=True,
    )
    assert isinstance(results[2], ValidationError)
    assert "expired before it was published" in str(results[2])
    assert [r.message_id for r in results if not isinstance(r, BaseException)] == [
        m.message_id for m in fresh
    ]
    records = await read_records(kafka_bootstrap_servers, lane_topic(topic, fresh[0].priority), 5)
    assert sorted(decode(r.value).payload["n"] for r in records) == list(range(5))


async def test_close_sends_what_was_accepted_before_it(
    kafka_bootstrap_servers: str, unique: str
) -> None:
    from orchestration.core.connections import KafkaConfig

    bus = MessageBus(KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers]))
    await bus.initialize()
    topic = f"coalesce-close-{unique}"
    await bus.ensure_topics([topic])
    publishing = [
        asyncio.ensure_future(bus.publish(Message(sender_id="s", payload={"n": n}), topic))
        for n in range(50)
    ]
    await asyncio.sleep(0)  # the publishes queue their records
    await bus.close()
    assert all(not isinstance(r, BaseException) for r in await asyncio.gather(*publishing))
    with pytest.raises(Exception, match="closed"):
        await bus.publish(Message(sender_id="s", payload={}), topic)
