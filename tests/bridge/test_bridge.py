"""The Kafka -> Temporal bridge against a real broker and a real Temporal dev server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from bus.bridge import Bridge
from bus.bridge_config import BridgeConfig, BridgeRoute
from bus.bridge_templates import render_workflow_id
from bus.message import Message
from bus.message_bus import MessageBus
from examples.bridge.facility_emissions import FacilityEmissionsWorkflow, FacilityState
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import ConfigurationError, TemplateError
from orchestration.core.lifecycle import cancel_and_wait
from tests.bridge.order_workflow import SignalOrderWorkflow
from tests.reliability.figures import Figures


@pytest_asyncio.fixture(loop_scope="session")
async def bus(kafka_bootstrap_servers: str) -> AsyncIterator[MessageBus]:
    async with MessageBus(KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers])) as bus:
        yield bus


def reading(facility: str | None, kwh: float, **fields: object) -> Message:
    payload: dict[str, object] = {"kwh": kwh, "factor_kg_per_kwh": 0.5}
    if facility is not None:
        payload["facility_id"] = facility
    return Message(sender_id="meter-1", payload=payload, **fields)  # type: ignore[arg-type]


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.05)


async def totals(client: Client, workflow_id: str) -> FacilityState | None:
    try:
        return await client.get_workflow_handle(workflow_id).query(FacilityEmissionsWorkflow.totals)
    except Exception:
        return None


async def dead_letters(servers: str, topic: str, count: int) -> list[dict[str, bytes]]:
    consumer = AIOKafkaConsumer(
        f"{topic}.dlq", bootstrap_servers=servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        found: list[dict[str, bytes]] = []
        deadline = asyncio.get_running_loop().time() + 20
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found += [dict(r.headers) for r in records]
        return found
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def running(bridge: Bridge) -> AsyncIterator[None]:
    task = asyncio.create_task(bridge.run())
    try:
        yield
    finally:
        await cancel_and_wait(task)


async def test_messages_signal_one_workflow_per_facility_and_bad_ones_are_dead_lettered(
    bus: MessageBus,
    temporal_client: Client,
    kafka_bootstrap_servers: str,
    unique: str,
    reliability_figures: Figures,
) -> None:
    topic = f"readings-{unique}"
    route = BridgeRoute(
        topic=topic,
        workflow="FacilityEmissionsWorkflow",
        workflow_id=f"{unique}-{{payload.facility_id}}",
        signal="reading",
        task_queue=unique,
    )
    twice = reading("f1", 10)
    await bus.publish_batch(
        [reading("f1", 2), twice, twice, reading("f2", 4), reading(None, 99)], topic
    )
    raw = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await raw.start()
    await raw.send_and_wait(topic, b"not a message")
    await raw.stop()

    bridge = Bridge(BridgeConfig(routes=[route]), temporal_client, bus)
    async with (
        Worker(temporal_client, task_queue=unique, workflows=[FacilityEmissionsWorkflow]),
        running(bridge),
    ):

        async def settled() -> bool:
            f1, f2 = (
                await totals(temporal_client, f"{unique}-f1"),
                await totals(temporal_client, f"{unique}-f2"),
            )
            return f1 is not None and f1.readings == 2 and f2 is not None and f2.readings == 1

        await until(settled)
        f1 = await totals(temporal_client, f"{unique}-f1")
        assert f1 is not None and f1.total_kg_co2e == pytest.approx(6.0)
        letters = await dead_letters(kafka_bootstrap_servers, topic, 2)
    errors = sorted(h["dlq.error"].decode() for h in letters)
    reliability_figures.record(
        "bad Kafka messages into the bridge",
        trials=6,
        faults=3,
        lost=2 - len(errors),
        duplicated=max(0, bridge.signaled - 3),
        note="not JSON, missing field, a duplicate: 2 dead-lettered with a reason, 1 dropped",
    )
    assert len(errors) == 2
    assert any("payload.facility_id is missing" in e for e in errors)
    assert any("not a valid message" in e for e in errors)
    assert bridge.signaled == 3  # the duplicate was dropped by the consumer's window
    assert (
        REGISTRY.get_sample_value("bridge_signals_total", {"topic": topic, "status": "dead_letter"})
        == 1.0
    )


async def test_redelivered_messages_take_effect_once(
    bus: MessageBus, temporal_client: Client, unique: str
) -> None:
    # A bridge that died after signalling but before committing delivers the same messages
    # again on restart; a second consumer group reading from the start is that redelivery.
    topic = f"replayed-{unique}"
    routes = [
        BridgeRoute(
            topic=topic,
            workflow="FacilityEmissionsWorkflow",
            workflow_id=f"{unique}-{{payload.facility_id}}",
            signal="reading",
            task_queue=unique,
            group_id=f"{unique}-{run}",
        )
        for run in ("first", "restarted")
    ]
    await bus.publish_batch([reading("f1", n) for n in range(1, 21)], topic)
    async with Worker(temporal_client, task_queue=unique, workflows=[FacilityEmissionsWorkflow]):
        for route in routes:
            bridge = Bridge(BridgeConfig(routes=[route]), temporal_client, bus)
            async with running(bridge):
                await until(lambda bridge=bridge: _signaled(bridge, 20))  # type: ignore[misc]
        state = await totals(temporal_client, f"{unique}-f1")
        handle = temporal_client.get_workflow_handle(f"{unique}-f1")
        await handle.signal(FacilityEmissionsWorkflow.close)
        await handle.result()
        history = await handle.fetch_history()
    # Replaying the real history (40 signals, then close) with today's code must not diverge.
    await Replayer(
        workflows=[FacilityEmissionsWorkflow], data_converter=temporal_client.data_converter
    ).replay_workflow(history)
    assert state is not None
    assert (state.readings, state.duplicates) == (20, 20)
    assert state.total_kg_co2e == pytest.approx(0.5 * sum(range(1, 21)))


async def _signaled(bridge: Bridge, count: int) -> bool:
    return bridge.signaled >= count


def test_workflow_ids_come_from_message_fields_and_nothing_else() -> None:
    message = reading("site/7 a", 1, correlation_id="c-1")
    assert render_workflow_id("f-{payload.facility_id}-{correlation_id}", message) == (
        "f-site/7_a-c-1"
    )
    with pytest.raises(TemplateError, match=r"payload\.facility_id is missing"):
        render_workflow_id("f-{payload.facility_id}", reading(None, 1))
    with pytest.raises(ValueError, match="unknown placeholder"):
        BridgeRoute(topic="t", workflow="W", workflow_id="{__class__}", signal="s")


def test_a_bad_configuration_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": [{"topic": "t", "workflow": "W", "signal": "s"}]}))
    with pytest.raises(ConfigurationError, match=r"routes\.0\.workflow_id: Field required"):
        BridgeConfig.load(path)
    path.write_text("{")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        BridgeConfig.load(path)


def test_the_example_routes_load() -> None:
    config = BridgeConfig.load(Path(__file__).parents[2] / "examples/bridge/routes.yaml")
    assert config.routes[0].workflow == "FacilityEmissionsWorkflow"


async def test_signals_to_one_workflow_keep_message_order_while_workflows_run_in_parallel(
    bus: MessageBus, temporal_client: Client, unique: str
) -> None:
    topic = f"ordered-{unique}"
    route = BridgeRoute(
        topic=topic,
        workflow="SignalOrderWorkflow",
        workflow_id=f"{unique}-{{payload.entity}}",
        signal="event",
        task_queue=unique,
        max_in_flight=8,
    )
    entities = [f"e{n}" for n in range(4)]
    # Kafka keeps order within a partition: one entity's messages share a key (the sender).
    await bus.publish_batch(
        [
            Message(sender_id=f"src-{entity}", payload={"entity": entity, "seq": seq})
            for seq in range(25)
            for entity in entities
        ],
        topic,
    )
    bridge = Bridge(BridgeConfig(routes=[route]), temporal_client, bus)
    async with (
        Worker(temporal_client, task_queue=unique, workflows=[SignalOrderWorkflow]),
        running(bridge),
    ):
        await until(lambda: _signaled(bridge, 100))
        orders = [
            await temporal_client.get_workflow_handle(f"{unique}-{e}").query(
                SignalOrderWorkflow.seqs
            )
            for e in entities
        ]
        for entity in entities:
            await temporal_client.get_workflow_handle(f"{unique}-{entity}").terminate()
    assert orders == [list(range(25))] * 4
