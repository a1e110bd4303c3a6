"""publish_batch sends whole Kafka batches: same partitions, order and offsets as send()."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner, murmur2

from bus.batching import WHOLE_BATCHES_FROM, key_hash
from bus.codec import decode
from bus.message import Message
from bus.message_bus import MessageBus
from bus.topics import lane_topic
from tests.bus.helpers import read_records


def test_key_hash_is_the_default_partitioners() -> None:
    partitions = list(range(7))
    for n in range(300):
        key = f"agent-{n}".encode()
        assert partitions[key_hash(key) % 7] == DefaultPartitioner()(key, partitions, partitions)
        assert key_hash(key) == murmur2(key) & 0x7FFFFFFF


async def test_a_large_batch_lands_where_send_would_put_it_in_order_at_the_reported_offsets(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"batching-{unique}"
    senders = [f"sender-{n}" for n in range(5)]
    big = "x" * 400_000  # larger than a batch of the default size: sent on its own
    messages = [
        Message(sender_id=senders[n % 5], payload={"n": n, "pad": big if n == 250 else ""})
        for n in range(3 * WHOLE_BATCHES_FROM + 200)
    ]
    deliveries = await bus.publish_batch(messages, topic)
    records = await read_records(kafka_bootstrap_servers, lane_topic(topic, messages[0].priority),
                                 len(messages))  # fmt: skip
    where = {(r.partition, r.offset): decode(r.value) for r in records}
    assert len(where) == len(messages)
    for message, delivery in zip(messages, deliveries, strict=True):
        assert delivery.message_id == message.message_id
        assert where[delivery.partition, delivery.offset].message_id == message.message_id
        partitions = list(range(bus.config.partitions))
        expected = DefaultPartitioner()(message.sender_id.encode(), partitions, partitions)
        assert delivery.partition == expected
    for sender in senders:  # one key's messages are stored in the order given
        mine = [
            d.offset for m, d in zip(messages, deliveries, strict=True) if m.sender_id == sender
        ]
        assert mine == sorted(mine)


async def test_a_small_batch_goes_through_send(bus: MessageBus, unique: str) -> None:
    messages = [Message(sender_id="s", payload={"n": n}) for n in range(WHOLE_BATCHES_FROM - 1)]
    deliveries = await bus.publish_batch(messages, f"batching-small-{unique}")
    offsets = [d.offset for d in deliveries]
    assert offsets == list(range(offsets[0], offsets[0] + len(messages)))  # one key: one partition
