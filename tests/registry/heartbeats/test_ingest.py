"""HEARTBEAT messages on Kafka reach the registry; bad ones are dead-lettered."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from bus.message import Message
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig
from registry.heartbeats.ingest import HeartbeatIngest, heartbeat_message
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor


@pytest.fixture
def registry(sqlite_registry: LocalAgentRegistry) -> LocalAgentRegistry:
    return sqlite_registry


async def test_kafka_heartbeats_are_ingested_and_unknown_agents_dead_lettered(
    registry: LocalAgentRegistry, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"heartbeats-{unique}"
    for agent_id in ("calc-1", "calc-2"):
        await registry.register(AgentDescriptor(agent_id=agent_id, agent_type="Calc"))
    async with MessageBus(KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers])) as bus:
        await bus.publish_batch(
            [
                heartbeat_message("calc-1", {"cpu_usage": 0.2}),
                heartbeat_message("calc-1", {"cpu_usage": 0.4}),
                heartbeat_message("calc-2", {"error_rate": 0.01}),
                heartbeat_message("ghost", {}),
                heartbeat_message("calc-2", {"cpu_usage": 7}),  # out of range
                Message(sender_id="calc-1", payload={"not": "a heartbeat"}),
            ],
            topic,
        )
        ingest = HeartbeatIngest(registry, bus, topic=topic, group_id=unique)
        await ingest.start()
        try:
            deadline = asyncio.get_running_loop().time() + 20
            while ingest.accepted + ingest.rejected < 5:
                assert asyncio.get_running_loop().time() < deadline, "heartbeats not ingested"
                await asyncio.sleep(0.05)
        finally:
            await ingest.stop()
        await registry.flush()
    calc1, calc2 = await registry.get_agent("calc-1"), await registry.get_agent("calc-2")
    assert (calc1.heartbeat_count, calc2.heartbeat_count) == (2, 1)
    assert calc1.metrics is not None and calc1.metrics.cpu_usage == 0.4
    assert (ingest.accepted, ingest.rejected) == (3, 2)

    consumer = AIOKafkaConsumer(
        f"{topic}.dlq", bootstrap_servers=kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        errors: list[str] = []
        deadline = asyncio.get_running_loop().time() + 20
        while len(errors) < 2 and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                errors += [dict(r.headers)["dlq.error"].decode() for r in records]
    finally:
        await consumer.stop()
    assert len(errors) == 2
    assert any("ghost" in e for e in errors)
    assert any("cpu_usage" in e for e in errors)
