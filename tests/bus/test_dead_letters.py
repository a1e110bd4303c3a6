"""What a consumer gives up on: expired messages, undecodable records, failing handlers."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from bus.codec import DEAD_LETTER_KEPT_BYTES, decode
from bus.message import MAX_PAYLOAD_BYTES, Message, MessageType
from bus.message_bus import MessageBus
from orchestration.core.exceptions import RequestFailedError, ValidationError
from tests.bus.helpers import headers_of, read_records, sample, take
from tests.reliability.figures import Figures


async def test_an_expired_message_is_dropped_counted_and_dead_lettered(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"ttl-{unique}"
    sender = f"s-{unique}"  # one key: both messages on one partition, in this order
    short_lived = Message(sender_id=sender, ttl_ms=300, payload={"n": 1})
    after = Message(sender_id=sender, payload={"n": 2})
    await bus.publish_batch([short_lived, after], topic)
    assert short_lived.expires_at is not None
    until_expired = max(0.0, short_lived.expires_at - time.time())

    async with bus.subscribe([topic], group_id=f"g-{unique}") as subscription:
        # Joining the group takes about as long; a message is checked when handed out.
        await asyncio.gather(subscription.start(), asyncio.sleep(until_expired))
        received = await take(subscription, 1)
    assert [m.message_id for m in received] == [after.message_id]
    assert sample("message_bus_dropped_total", topic=topic, reason="expired") == 1

    [dead] = await read_records(kafka_bootstrap_servers, f"{topic}.dlq", 1)
    assert decode(dead.value) == short_lived  # the record itself, unchanged
    headers = headers_of(dead)
    assert headers["dlq.error"] == b"expired before delivery"
    assert headers["dlq.source_topic"] == topic.encode()
    assert headers["message_id"] == short_lived.message_id.encode()
    assert sample("message_bus_dead_letters_total", topic=topic) == 1


async def test_an_undecodable_record_is_dead_lettered_and_the_consumer_carries_on(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"garbage-{unique}"
    sender = f"s-{unique}"
    await bus.ensure_topics([topic])
    decode_errors = sample("message_bus_errors_total", kind="decode")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    try:  # a plain Kafka producer writing to the logical topic lands in the NORMAL lane
        garbage = await producer.send_and_wait(topic, b"not json", key=sender.encode())
    finally:
        await producer.stop()
    valid = Message(sender_id=sender, payload={"ok": True})
    delivery = await bus.publish(valid, topic)
    assert (delivery.topic, delivery.partition) == (garbage.topic, garbage.partition)
    assert delivery.offset > garbage.offset  # the bad record comes first

    async with bus.subscribe([topic], group_id=f"g-{unique}") as subscription:
        received = await take(subscription, 1)
    assert received == [valid]
    assert sample("message_bus_errors_total", kind="decode") == decode_errors + 1

    [dead] = await read_records(kafka_bootstrap_servers, f"{topic}.dlq", 1)
    assert dead.value == b"not json"
    assert dead.key == sender.encode()
    headers = headers_of(dead)
    assert headers["dlq.error"].startswith(b"not a valid message: value: Invalid JSON")
    assert headers["dlq.source_topic"] == topic.encode()
    assert headers["dlq.attempts"] == b"1"


async def test_a_handler_that_always_fails_gives_an_error_reply_and_a_dead_letter(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str
) -> None:
    agent = f"failing-{unique}"
    calls: list[str] = []

    def handler(request: Message) -> dict[str, object]:
        calls.append(request.message_id)
        raise RuntimeError(f"cannot compute {request.payload['x']}")

    server = await bus.serve(agent, handler, max_attempts=2)
    try:
        request = Message(sender_id="requester", recipient_id=agent, payload={"x": 7})
        with pytest.raises(RequestFailedError) as info:
            await bus.request_response(request, timeout_ms=10_000)
    finally:
        await server.stop()

    assert f"agent {agent} failed the request: RuntimeError: cannot compute 7" == str(info.value)
    reply = info.value.reply
    assert reply.message_type is MessageType.ERROR
    assert reply.payload == {
        "error": "RuntimeError: cannot compute 7",
        "error_type": "RuntimeError",
        "attempts": 2,
        "retriable": True,
    }
    assert reply.correlation_id == reply.causation_id == request.message_id
    assert calls == [request.message_id] * 2
    assert (server.handled, server.failed) == (0, 1)

    [dead] = await read_records(kafka_bootstrap_servers, f"agent.{agent}.dlq", 1)
    assert decode(dead.value).message_id == request.message_id
    headers = headers_of(dead)
    assert headers["dlq.attempts"] == b"2"
    assert headers["dlq.error"] == b"RuntimeError: cannot compute 7"
    assert headers["dlq.source_topic"] == f"agent.{agent}".encode()


async def test_a_handler_error_that_retrying_cannot_help_is_answered_at_once(
    bus: MessageBus, unique: str
) -> None:
    agent = f"refusing-{unique}"
    calls: list[str] = []

    def handler(request: Message) -> dict[str, object]:
        calls.append(request.message_id)
        raise ValidationError.about("x", "must be positive")

    server = await bus.serve(agent, handler, max_attempts=3)
    try:
        request = Message(sender_id="requester", recipient_id=agent, payload={"x": -1})
        with pytest.raises(RequestFailedError) as info:
            await bus.request_response(request, timeout_ms=10_000)
    finally:
        await server.stop()
    assert calls == [request.message_id]  # not tried again
    assert info.value.reply.payload == {
        "error": "ValidationError: x must be positive",
        "error_type": "ValidationError",
        "attempts": 1,
        "retriable": False,
    }


async def test_an_oversized_record_is_dead_lettered_truncated_and_the_consumer_carries_on(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str, reliability_figures: Figures
) -> None:
    topic = f"huge-{unique}"
    sender = f"s-{unique}"
    await bus.ensure_topics([topic])
    huge = Message(sender_id=sender, payload={"blob": "x" * (MAX_PAYLOAD_BYTES + 500_000)})
    value = huge.model_dump_json().encode()
    # Another producer, with a larger request size than ours: the broker takes the record.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap_servers, max_request_size=4 * MAX_PAYLOAD_BYTES
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=sender.encode())
    finally:
        await producer.stop()
    valid = Message(sender_id=sender, payload={"ok": True})
    await bus.publish(valid, topic)

    async with bus.subscribe([topic], group_id=f"g-{unique}") as subscription:
        received = await take(subscription, 1)
    [dead] = await read_records(kafka_bootstrap_servers, f"{topic}.dlq", 1)
    reliability_figures.record(
        "oversized Kafka record", trials=2, faults=1, lost=int(received != [valid]),
        note="1.5 MB record dead-lettered; the next message delivered",
    )  # fmt: skip
    assert received == [valid]
    headers = headers_of(dead)
    assert headers["dlq.error"].decode() == (
        f"the record is {len(value):,} bytes, more than the {MAX_PAYLOAD_BYTES:,} a message may be"
    )
    assert headers["dlq.original_bytes"] == str(len(value)).encode()
    assert dead.value == value[:DEAD_LETTER_KEPT_BYTES]  # enough to tell which message it was
    assert dead.key == sender.encode()
