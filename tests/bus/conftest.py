"""Bus fixtures: one MessageBus on the session's real broker, shared by the bus tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig


@pytest.fixture(scope="session")
def kafka_config(kafka_bootstrap_servers: str) -> KafkaConfig:
    return KafkaConfig(bootstrap_servers=kafka_bootstrap_servers)


@pytest_asyncio.fixture(scope="session")
async def bus(kafka_config: KafkaConfig) -> AsyncIterator[MessageBus]:
    """An initialized bus (3 partitions per lane), closed at the end of the session."""
    message_bus = MessageBus(kafka_config)
    try:
        await message_bus.initialize()
        yield message_bus
    finally:
        await message_bus.close()
