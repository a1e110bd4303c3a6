"""With the broker gone, the bus fails with MessageBusError after bounded retries: it never
hangs and never reports a message as published that was not."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from bus.message import Message
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import MessageBusError
from orchestration.core.settings import Settings
from orchestration.stack.commands import tansu_command
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_kafka
from orchestration.testing.ports import free_port
from tests.reliability.figures import Figures

NEVER_HANGS_S = 60.0
"""A guard against a hang, far above the configured timeouts; not a timing assertion."""


async def test_a_bus_without_a_broker_refuses_to_start_with_one_clear_error() -> None:
    config = KafkaConfig(bootstrap_servers=[f"127.0.0.1:{free_port()}"], request_timeout_ms=2000)
    bus = MessageBus(config)
    with pytest.raises(MessageBusError, match="cannot connect to Kafka") as refused:
        await asyncio.wait_for(bus.initialize(), NEVER_HANGS_S)
    assert refused.value.retriable


async def test_publishing_after_the_broker_died_fails_and_reports_nothing_stored(
    tmp_path: Path, reliability_figures: Figures
) -> None:
    servers = f"127.0.0.1:{free_port()}"
    config = KafkaConfig(bootstrap_servers=[servers], request_timeout_ms=2000)
    log_file = tmp_path / "tansu.log"
    broker = await ManagedProcess.spawn(
        "Kafka broker", tansu_command(Settings(kafka=config)), log_file=log_file
    )
    try:
        await wait_for_kafka(config.bootstrap_servers, timeout_s=30, process=broker)
        async with MessageBus(config) as bus:
            stored = await bus.publish(Message(sender_id="meter", payload={"n": 1}), "readings")
            assert stored.offset == 0
            os.kill(broker.pid, signal.SIGKILL)  # the broker dies without a word
            batches = (
                [Message(sender_id="meter", payload={"n": 2})],
                [Message(sender_id="meter", payload={"n": n}) for n in range(100)],
            )
            refused = 0
            for batch in batches:
                try:
                    await asyncio.wait_for(bus.publish_batch(batch, "readings"), NEVER_HANGS_S)
                except MessageBusError as failed:
                    assert failed.retriable  # the caller may publish again: at least once
                    refused += len(batch)
    finally:
        await broker.stop()
    sent = sum(len(batch) for batch in batches)
    reliability_figures.record(
        "Kafka broker killed, then publish",
        trials=sent,
        faults=1,
        lost=sent - refused,
        note="each message refused with a retriable MessageBusError, none dropped silently",
    )
    assert refused == sent
