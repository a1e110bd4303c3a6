"""``format: json`` bridge routes: foreign JSON records (not our Message envelope) into
workflows, written by a librdkafka producer (confluent-kafka), against the real broker and a
real Temporal dev server; and the templates and configuration errors of such routes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import pytest_asyncio
from aiokafka.structs import ConsumerRecord
from confluent_kafka import Producer
from temporalio.client import Client
from temporalio.worker import Worker

from bus.bridge import Bridge, decode_json_record, signal_for
from bus.bridge_config import DEFAULT_DEDUPE_ID, BridgeConfig, BridgeRoute
from bus.bridge_templates import render_dedupe_id, render_workflow_id
from bus.message import MAX_PAYLOAD_BYTES, Message
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import ConfigurationError, DecodeError, TemplateError
from tests.bridge.json_workflow import MeterReadingsWorkflow
from tests.bridge.test_bridge import running, until
from tests.bus.helpers import headers_of, read_records


@pytest_asyncio.fixture(loop_scope="session")
async def bus(kafka_bootstrap_servers: str) -> AsyncIterator[MessageBus]:
    async with MessageBus(KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers])) as bus:
        yield bus


async def produce(servers: str, topic: str, records: list[tuple[bytes, bytes, list[Any]]]) -> None:
    """Send ``(key, value, headers)`` records in order with librdkafka, as a foreign producer
    would, and wait until the broker stored every one."""
    producer = Producer(
        {
            "bootstrap.servers": servers,
            "acks": "all",
            "message.max.bytes": 4 * MAX_PAYLOAD_BYTES,  # the oversized record is sent too
        }
    )
    failures: list[object] = []
    for key, value, headers in records:
        producer.produce(
            topic,
            value,
            key=key,
            headers=headers,
            on_delivery=lambda error, _: failures.append(error) if error else None,
        )
    assert await asyncio.to_thread(producer.flush, 15) == 0, "not every record was delivered"
    assert failures == []


def reading(meter: str | None, reading_id: str, kwh: float, **extra: object) -> bytes:
    value: dict[str, object] = {"reading_id": reading_id, "kwh": kwh, **extra}
    if meter is not None:
        value["meter_id"] = meter
    return json.dumps(value).encode()


async def state(client: Client, workflow_id: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = await client.get_workflow_handle(workflow_id).query(
            MeterReadingsWorkflow.state
        )
        return result
    except Exception:
        return None


async def test_foreign_json_records_reach_their_entity_workflow_once_and_bad_ones_are_dead_lettered(
    bus: MessageBus, temporal_client: Client, kafka_bootstrap_servers: str, unique: str
) -> None:
    topic = f"meters-{unique}"
    route = BridgeRoute(
        topic=topic,
        format="json",
        workflow="MeterReadingsWorkflow",
        workflow_id=f"{unique}-{{header.site}}-{{value.meter_id}}",
        dedupe_id="{value.reading_id}",
        signal="reading",
        task_queue=unique,
    )
    await bus.ensure_topics([topic])  # the bridge would create them; the producer writes first
    site = [("site", b"s1"), ("trace", b"t-1")]
    # One meter's records share a key, so they share a partition and keep their order.
    await produce(
        kafka_bootstrap_servers,
        topic,
        [
            (b"m1", reading("m1", "r1", 1.5), site),
            (b"m1", reading("m1", "r2", 2.0), site),
            (b"m1", reading("m1", "r1", 1.5), site),  # the meter sent r1 again: applied once
            (b"m1", b'{"meter_id": "m1", "kwh": ', site),  # not JSON
            (b"m1", reading(None, "r9", 9.0), site),  # no meter_id: cannot name a workflow
            (b"m1", reading("m1", "r0", 0.0, blob="x" * MAX_PAYLOAD_BYTES), site),  # too large
            (b"m1", reading("m1", "r3", 3.0), site),  # after the bad ones: still arrives
            (b"m2", reading("m2", "r1", 4.0), site),  # another meter's r1 is its own
        ],
    )
    bridge = Bridge(BridgeConfig(routes=[route]), temporal_client, bus)
    m1, m2 = f"{unique}-s1-m1", f"{unique}-s1-m2"
    async with (
        Worker(temporal_client, task_queue=unique, workflows=[MeterReadingsWorkflow]),
        running(bridge),
    ):

        async def settled() -> bool:
            first, second = await state(temporal_client, m1), await state(temporal_client, m2)
            return (
                first is not None
                and len(first["applied"]) + first["duplicates"] == 4
                and second is not None
                and len(second["applied"]) == 1
            )

        await until(settled, timeout_s=15)
        first, second = await state(temporal_client, m1), await state(temporal_client, m2)
        for workflow_id in (m1, m2):
            await temporal_client.get_workflow_handle(workflow_id).terminate()
    letters = await read_records(kafka_bootstrap_servers, f"{topic}.dlq", 3)

    assert first is not None and second is not None
    assert [s["value"]["reading_id"] for s in first["applied"]] == ["r1", "r2", "r3"]
    assert first["duplicates"] == 1
    assert [s["value"]["kwh"] for s in second["applied"]] == [4.0]
    signal = first["applied"][0]
    assert signal["id"] == "r1"
    assert signal["value"] == {"reading_id": "r1", "kwh": 1.5, "meter_id": "m1"}
    assert signal["key"] == "m1"
    assert signal["headers"] == {"site": "s1", "trace": "t-1"}
    assert (signal["topic"], signal["offset"]) == (topic, 0)
    assert isinstance(signal["partition"], int) and signal["timestamp_ms"] > 0
    assert bridge.signaled == 5 and bridge.dead_lettered == 3

    reasons = sorted(headers_of(r)["dlq.error"].decode() for r in letters)
    assert len(reasons) == 3
    assert reasons[0].startswith("not JSON: ")
    assert reasons[1].endswith("cannot name a workflow: value.meter_id is missing")
    assert reasons[2].startswith("the record is 1,000,0") and "bytes, more than the" in reasons[2]
    assert all(headers_of(r)["site"] == b"s1" for r in letters)  # the record's own headers kept
    assert {r.key for r in letters} == {b"m1"}


def record(
    value: bytes | None,
    *,
    key: bytes | None = b"m-7",
    headers: tuple[tuple[str, bytes], ...] = (),
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="meters",
        partition=2,
        offset=17,
        timestamp=1_700_000_000_000,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=headers,
    )


def test_json_templates_read_the_key_the_value_the_headers_and_the_place() -> None:
    parsed = decode_json_record(
        record(
            b'{"site": {"id": "plant 4"}, "lines": [{"sku": "A-1"}], "ok": true, "n": 0}',
            headers=(("tenant", b"acme"), ("tenant", b"globex"), ("bin", b"\xff")),
        )
    )
    assert render_workflow_id("{key}/{value.site.id}/{value.lines.0.sku}", parsed) == (
        "m-7/plant_4/A-1"  # id characters are made safe, as for messages
    )
    assert render_workflow_id("{header.tenant}-{value.n}", parsed) == "globex-0"  # last one wins
    assert render_dedupe_id(DEFAULT_DEDUPE_ID, parsed) == "meters/2/17"
    assert render_dedupe_id("{value.site.id}", parsed) == "plant 4"  # dedupe ids stay as they are
    for template, problem in [
        ("{value.meter_id}", "value.meter_id is missing"),
        ("{value.lines.1.sku}", "value.lines.1.sku is missing"),
        ("{value.site}", "value.site is not a scalar"),
        ("{value.ok}", "value.ok is not a scalar"),
        ("{header.site}", "header.site is missing"),
        ("{header.bin}", "header.bin is not UTF-8 text"),
    ]:
        with pytest.raises(TemplateError, match=rf"^record meters\[2\]@17 cannot name .*{problem}"):
            render_workflow_id(template, parsed)
    with pytest.raises(TemplateError, match="key is missing"):
        render_dedupe_id("{key}", decode_json_record(record(b"1", key=None)))
    assert parsed.signal_argument("meters/2/17") == {
        "id": "meters/2/17",
        "value": {"site": {"id": "plant 4"}, "lines": [{"sku": "A-1"}], "ok": True, "n": 0},
        "key": "m-7",
        "headers": {"tenant": "globex", "bin": "\ufffd"},
        "topic": "meters",
        "partition": 2,
        "offset": 17,
        "timestamp_ms": 1_700_000_000_000,
    }


def test_a_message_route_still_signals_the_message_itself() -> None:
    route = BridgeRoute(topic="t", workflow="W", workflow_id="f-{payload.f}", signal="s")
    message = Message(sender_id="meter-1", payload={"f": "x"}, headers={"tenant": "acme"})
    assert route.format == "message"
    assert signal_for(route, message, record(b"ignored")) == (
        "f-x",
        message.model_dump(mode="json", exclude_none=True),
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"kwh": ', "not JSON: EOF while parsing"),
        (b'{"kwh": NaN}', "not JSON: expected value"),
        (b'"\xff"', "not JSON: invalid unicode code point"),
        (b"[" * 300 + b"]" * 300, "not JSON: recursion limit exceeded"),
        (None, "the record has no value"),
        (b'"' + b"x" * MAX_PAYLOAD_BYTES + b'"', "the record is 1,000,002 bytes, more than the"),
    ],
)
def test_a_record_that_is_not_json_fails_with_its_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_json_record(record(value))
    assert str(info.value).startswith(reason)


@pytest.mark.parametrize(
    ("route", "where", "needle"),
    [
        (
            {"format": "json", "workflow_id": "m-{payload.meter_id}"},
            "routes.0.workflow_id",
            "{payload.meter_id} is a field of format: message routes, and this route's format "
            "is json: use key, topic, partition, offset, value.<path> or header.<name>",
        ),
        (
            {"workflow_id": "m-{value.meter_id}"},
            "routes.0.workflow_id",
            "{value.meter_id} is a field of format: json routes",
        ),
        (
            {"format": "json", "workflow_id": "m-{headers.site}"},
            "routes.0.workflow_id",
            "{headers.site} is a field of format: message routes",
        ),
        (
            {"format": "json", "workflow_id": "m-{value}"},
            "routes.0.workflow_id",
            "unknown placeholder(s) {value}",
        ),
        (
            {"workflow_id": "m-{payload.m}", "dedupe_id": "{payload.id}"},
            "routes.0.dedupe_id",
            "only a format: json route takes a dedupe id",
        ),
        (
            {"format": "json", "workflow_id": "m-{key}", "dedupe_id": "always-the-same"},
            "routes.0.dedupe_id",
            "must name at least one field",
        ),
        (
            {"format": "avro", "workflow_id": "m-{key}"},
            "routes.0.format",
            "Input should be 'message' or 'json'",
        ),
    ],
)
def test_a_bad_json_route_names_the_field(
    tmp_path: Path, route: dict[str, str], where: str, needle: str
) -> None:
    path = tmp_path / "routes.json"
    path.write_text(
        json.dumps({"routes": [{"topic": "meters", "workflow": "W", "signal": "s", **route}]})
    )
    with pytest.raises(ConfigurationError) as info:
        BridgeConfig.load(path)
    assert f"{where}: Value error, {needle}" in str(info.value) or (
        f"{where}: {needle}" in str(info.value)
    )
    with pytest.raises(pydantic.ValidationError) as direct:
        BridgeRoute.model_validate({"topic": "meters", "workflow": "W", "signal": "s", **route})
    fields = [".".join(map(str, e["loc"])) for e in direct.value.errors()]
    assert fields == [where.removeprefix("routes.0.")]
