"""Helpers of the bus tests: bounded waits, reading raw records, reading metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from prometheus_client import REGISTRY

from bus.message import Message
from bus.subscription import Subscription

DEADLINE_S = 15.0
"""Upper bound of any wait; a healthy run needs a small fraction of it."""


async def take(
    subscription: Subscription, count: int, timeout_s: float = DEADLINE_S
) -> list[Message]:
    """The next ``count`` messages of ``subscription``, or fail after ``timeout_s``."""
    messages: list[Message] = []
    async with asyncio.timeout(timeout_s):
        async for message in subscription:
            messages.append(message)
            if len(messages) == count:
                break
    return messages


async def take_until(
    subscription: Subscription, last_id: str, timeout_s: float = DEADLINE_S
) -> list[Message]:
    """Messages of ``subscription`` up to and including the one with id ``last_id``."""
    messages: list[Message] = []
    async with asyncio.timeout(timeout_s):
        async for message in subscription:
            messages.append(message)
            if message.message_id == last_id:
                break
    return messages


async def read_records(
    bootstrap_servers: str, topic: str, count: int, timeout_s: float = DEADLINE_S
) -> list[ConsumerRecord[bytes, bytes]]:
    """The first ``count`` records of every partition of ``topic`` (no consumer group)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=200)
                records.extend(r for batch in batches.values() for r in batch)
    finally:
        await consumer.stop()
    return records


def sample(name: str, **labels: str) -> float:
    """A Prometheus sample of this process (0 when the series does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def label_values(name: str, label: str) -> set[str]:
    """Every value ``label`` takes among the samples called ``name``."""
    values: set[str] = set()
    for metric in REGISTRY.collect():
        for s in metric.samples:
            if s.name == name and label in s.labels:
                values.add(s.labels[label])
    return values


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    return dict(record.headers or ())
