"""The quick reference's configuration (lz4 compression) works end to end."""

from __future__ import annotations

import uuid

from bus.message import Message
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig
from tests.bus.helpers import take


async def test_lz4_compressed_messages_round_trip(kafka_config: KafkaConfig) -> None:
    config = kafka_config.model_copy(update={"compression_type": "lz4", "partitions": 1})
    topic = f"lz4-{uuid.uuid4().hex[:8]}"
    async with MessageBus(config) as bus:
        sent = [Message(sender_id="a", payload={"n": n, "text": "x" * 500}) for n in range(20)]
        await bus.publish_batch(sent, topic)
        async with bus.subscribe([topic], f"g-{topic}") as subscription:
            received = await take(subscription, 20)
    assert [m.payload for m in received] == [m.payload for m in sent]
