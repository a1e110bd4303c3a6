"""Concurrent ``publish`` calls share sends (orchestration/core/coalescing.py), and each still
returns only once its own message is stored."""

from __future__ import annotations

import asyncio
import time

import pytest

from bus.codec import decode
from bus.message import Message
from bus.message_bus import MessageBus
from bus.topics import lane_topic
from orchestration.core.exceptions import ValidationError
from tests.bus.helpers import read_records


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
