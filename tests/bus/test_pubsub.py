"""Publish and subscribe on the real broker; what is refused before anything is sent."""

from __future__ import annotations

import socket
import time

import pydantic
import pytest

from bus.message import Message, MessageType, Priority
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import MessageBusError, ValidationError
from tests.bus.helpers import take


async def test_a_published_message_reaches_a_later_subscriber(bus: MessageBus, unique: str) -> None:
    topic = f"pubsub-{unique}"
    message = Message(sender_id="calc-1", payload={"co2e_kg": 12.5}, headers={"tenant": "acme"})
    delivery = await bus.publish(message, topic)
    assert (delivery.message_id, delivery.topic) == (message.message_id, topic)
    assert delivery.offset >= 0

    async with bus.subscribe([topic], group_id=f"g-{unique}") as subscription:
        [received] = await take(subscription, 1)
        await subscription.commit()
    assert received == message
    assert subscription.closed


async def test_publish_batch_sends_each_message_to_its_priority_lane(
    bus: MessageBus, unique: str
) -> None:
    topic = f"batch-{unique}"
    messages = [
        Message(sender_id=f"s{i}", priority=priority, payload={"i": i})
        for i, priority in enumerate([*Priority, Priority.NORMAL])
    ]
    deliveries = await bus.publish_batch(messages, topic)
    assert [d.message_id for d in deliveries] == [m.message_id for m in messages]
    assert [d.topic for d in deliveries] == [
        f"{topic}.critical",
        f"{topic}.high",
        topic,
        f"{topic}.low",
        topic,
    ]
    async with bus.subscribe([topic], group_id=f"g-{unique}") as subscription:
        received = await take(subscription, len(messages))
    assert sorted(m.message_id for m in received) == sorted(m.message_id for m in messages)


async def test_a_message_for_a_recipient_goes_to_its_inbox(bus: MessageBus, unique: str) -> None:
    message = Message(sender_id="a", recipient_id=f"agent-{unique}")
    assert bus.topic_for(message, "ignored") == f"agent.agent-{unique}"
    assert bus.topic_for(Message(sender_id="a")) == bus.config.default_topic
    with pytest.raises(ValidationError) as info:
        bus.topic_for(Message(sender_id="a", recipient_id="ns:agent"))
    assert info.value.errors[0]["field"] == "recipient_id"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"sender_id": ""}, "sender_id"),
        ({"sender_id": "has space"}, "sender_id"),
        ({"sender_id": "a", "recipient_id": "x" * 201}, "recipient_id"),
        ({"sender_id": "a", "priority": 7}, "priority"),
        ({"sender_id": "a", "message_type": "gossip"}, "message_type"),
        ({"sender_id": "a", "ttl_ms": 0}, "ttl_ms"),
        ({"sender_id": "a", "trace_id": "not-hex"}, "trace_id"),
        ({"sender_id": "a", "unknown": 1}, "unknown"),
    ],
)
def test_invalid_messages_are_pydantic_errors_naming_the_field(
    fields: dict[str, object], field: str
) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Message(**fields)  # type: ignore[arg-type]
    assert [error["loc"] for error in info.value.errors()] == [(field,)]


def test_ttl_sets_the_expiry() -> None:
    message = Message(sender_id="a", created_at=100.0, ttl_ms=1500)
    assert message.expires_at == 101.5
    assert not message.expired(101.4)
    assert message.expired(101.5)
    assert not Message(sender_id="a").expired()


async def test_publishing_an_expired_message_is_refused(bus: MessageBus, unique: str) -> None:
    fresh = Message(sender_id="a")
    expired = Message(sender_id="a", expires_at=time.time() - 1)
    with pytest.raises(
        ValidationError, match=r"messages\[1\] .* expired before it was published"
    ) as info:
        await bus.publish_batch([fresh, expired], f"expired-{unique}")
    assert info.value.errors[0]["field"] == "messages[1].expires_at"
    assert f"expired-{unique}" not in bus._topics.known  # nothing was sent, not even fresh


async def test_a_bus_must_be_initialized_first_and_is_unusable_once_closed(
    kafka_config: KafkaConfig, unique: str
) -> None:
    message_bus = MessageBus(kafka_config)
    message = Message(sender_id="a")
    with pytest.raises(MessageBusError, match=r"not initialized: await bus\.initialize\(\) first"):
        await message_bus.publish(message, f"t-{unique}")
    with pytest.raises(MessageBusError, match="not initialized"):
        message_bus.subscribe([f"t-{unique}"])
    with pytest.raises(MessageBusError, match="not initialized"):
        await message_bus.request_response(Message(sender_id="a", recipient_id="b"), timeout_ms=100)
    async with message_bus:
        await message_bus.initialize()  # idempotent
    with pytest.raises(MessageBusError, match="the bus is closed"):
        await message_bus.publish(message, f"t-{unique}")
    with pytest.raises(MessageBusError, match="the bus is closed"):
        await message_bus.initialize()


async def test_an_unreachable_broker_is_a_retriable_error_saying_what_to_do() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"  # bound but not listening: refused
        message_bus = MessageBus(KafkaConfig(bootstrap_servers=[address]))
        with pytest.raises(MessageBusError, match=f"cannot connect to Kafka at {address}") as info:
            await message_bus.initialize()
    assert info.value.retriable
    assert "ORCH_KAFKA_BOOTSTRAP_SERVERS" in str(info.value)
    await message_bus.close()


async def test_subscribe_needs_a_usable_topic(bus: MessageBus) -> None:
    with pytest.raises(ValidationError, match="at least one topic"):
        bus.subscribe([])
    with pytest.raises(ValidationError, match="must not end in"):
        bus.subscribe(["orders.dlq"])


async def test_a_request_needs_a_recipient_and_a_positive_timeout(bus: MessageBus) -> None:
    with pytest.raises(ValidationError, match="needs a recipient_id"):
        await bus.request_response(Message(sender_id="a", message_type=MessageType.REQUEST))
    with pytest.raises(ValidationError, match="timeout_ms must be a positive integer") as info:
        await bus.request_response(Message(sender_id="a", recipient_id="b"), timeout_ms=0)
    assert info.value.errors[0]["field"] == "timeout_ms"
