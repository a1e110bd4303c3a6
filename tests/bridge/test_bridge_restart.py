"""The bridge process killed mid-stream and restarted: every reading takes effect once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from bus.message import Message
from bus.message_bus import MessageBus
from examples.bridge.facility_emissions import FacilityEmissionsWorkflow, FacilityState
from orchestration.core.connections import KafkaConfig
from orchestration.testing.ports import free_port
from tests.bridge.facility_routes import facility_routes
from tests.reliability.figures import Figures

FACILITIES = 4
PER_FACILITY = 60


async def _spawn_bridge(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestration.cli",
        "bridge",
        env=env,
        stdout=log.open("ab"),
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )


async def _state(client: Client, workflow_id: str) -> FacilityState | None:
    try:
        return await client.get_workflow_handle(workflow_id).query(FacilityEmissionsWorkflow.totals)
    except Exception:
        return None


async def _readings(client: Client, ids: list[str]) -> int:
    states = [await _state(client, workflow_id) for workflow_id in ids]
    return sum(s.readings for s in states if s is not None)


async def test_a_bridge_killed_mid_stream_and_restarted_applies_every_message_once(
    temporal_client: Client,
    kafka_bootstrap_servers: str,
    unique: str,
    tmp_path: Path,
    reliability_figures: Figures,
) -> None:
    topic = f"meters-{unique}"
    config = facility_routes(tmp_path, topic, unique)
    env = {
        **os.environ,
        "ORCH_TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "ORCH_TEMPORAL_NAMESPACE": temporal_client.namespace,
        "ORCH_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "ORCH_BRIDGE_CONFIG": str(config),
        "ORCH_BRIDGE_METRICS_PORT": str(free_port()),
        "ORCH_METRICS_HOST": "127.0.0.1",
        "ORCH_STATE_DIR": str(tmp_path / "state"),
    }
    ids = [f"{unique}-f{n}" for n in range(FACILITIES)]
    readings = [
        Message(
            sender_id="meter",
            payload={"facility_id": f"f{n}", "kwh": float(k), "factor_kg_per_kwh": 0.25},
        )
        for k in range(1, PER_FACILITY + 1)
        for n in range(FACILITIES)
    ]
    async with MessageBus(KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers])) as bus:
        await bus.publish_batch(readings, topic)
    log = tmp_path / "bridge.log"
    total = FACILITIES * PER_FACILITY
    async with Worker(temporal_client, task_queue=unique, workflows=[FacilityEmissionsWorkflow]):
        first = await _spawn_bridge(env, log)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        try:
            # Kill it once some, but not all, readings went through.
            while (done := await _readings(temporal_client, ids)) < total // 10:
                assert first.returncode is None, log.read_text()
                assert loop.time() < deadline, f"the bridge made no progress:\n{log.read_text()}"
                await asyncio.sleep(0.02)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            await first.wait()
        assert done < total, "the bridge finished before it could be killed mid-stream"

        second = await _spawn_bridge(env, log)
        try:
            deadline = loop.time() + 90
            while await _readings(temporal_client, ids) < total:
                assert second.returncode is None, log.read_text()
                assert loop.time() < deadline, f"readings still missing:\n{log.read_text()}"
                await asyncio.sleep(0.05)
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), 20) == 0, log.read_text()
        states = [await _state(temporal_client, workflow_id) for workflow_id in ids]
    counts = [state.readings if state else 0 for state in states]
    reliability_figures.record(
        "bridge SIGKILLed mid-stream and restarted",
        trials=total,
        faults=1,
        lost=sum(max(0, PER_FACILITY - c) for c in counts),
        duplicated=sum(max(0, c - PER_FACILITY) for c in counts),
        note="Kafka readings signalled into entity workflows",
    )
    for state in states:
        assert state is not None
        assert state.readings == PER_FACILITY
        assert state.total_kg_co2e == pytest.approx(0.25 * sum(range(1, PER_FACILITY + 1)))
