"""The bus and clients that are not ours: a librdkafka consumer (confluent-kafka) reads a
published message's ``Message.headers`` as Kafka record headers (``h.<name>``) without
parsing the value, and a record header a foreign producer adds never overrides the value."""

from __future__ import annotations

import asyncio
import json
import time

from confluent_kafka import Consumer, Producer, TopicPartition

from bus.codec import HEADER_PREFIX, encode
from bus.message import Message
from bus.message_bus import MessageBus
from tests.bus.helpers import DEADLINE_S, take

Headers = list[tuple[str, bytes]]


def consume_one(servers: str, topic: str, partition: int, offset: int) -> tuple[bytes, Headers]:
    """The value and headers of one record, read by librdkafka without joining a group."""
    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": "unused", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            record = consumer.poll(0.2)
            if record is None:
                continue
            assert record.error() is None, record.error()
            return record.value(), record.headers() or []
        raise AssertionError(f"no record at {topic}[{partition}]@{offset} before the deadline")
    finally:
        consumer.close()


async def test_a_foreign_consumer_finds_message_headers_as_record_headers(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"tenants-{unique}"
    message = Message(
        sender_id="meter-1",
        payload={"kwh": 3},
        headers={"tenant": "acme", "site": "plant-4"},
        correlation_id="c-1",
    )
    delivery = await bus.publish(message, topic)

    value, headers = await asyncio.to_thread(
        consume_one, kafka_bootstrap_servers, delivery.topic, delivery.partition, delivery.offset
    )
    assert HEADER_PREFIX == "h."
    assert headers == [
        ("message_id", message.message_id.encode()),
        ("message_type", b"event"),
        ("priority", b"2"),
        ("correlation_id", b"c-1"),
        ("h.tenant", b"acme"),
        ("h.site", b"plant-4"),
    ]
    assert json.loads(value)["headers"] == {"tenant": "acme", "site": "plant-4"}


async def test_a_record_header_never_overrides_the_value(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"forged-{unique}"
    await bus.ensure_topics([topic])
    key, value, headers = encode(Message(sender_id="meter-1", headers={"tenant": "acme"}))
    producer = Producer({"bootstrap.servers": kafka_bootstrap_servers, "acks": "all"})
    # A foreign producer adds its own h.tenant (after ours: the last of a name usually wins).
    producer.produce(topic, value, key=key, headers=[*headers, ("h.tenant", b"evil")])
    assert await asyncio.to_thread(producer.flush, DEADLINE_S) == 0
    subscription = bus.subscribe([topic], f"readers-{unique}")
    async with subscription:
        (received,) = await take(subscription, 1)
    assert received.headers == {"tenant": "acme"}
