"""Traces across Kafka: a request-response between two processes, and a message through the
bridge into a workflow, each one trace; every process exports to a receiver that decodes the
real OTLP protobuf."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from temporalio.client import Client

from orchestration.testing.otlp import OtlpReceiver, ReceivedSpan, describe, orphans
from orchestration.testing.ports import free_port
from tests.bridge.facility_routes import facility_routes

HERE = Path(__file__).parent
RESPONDER = HERE.parent / "bus" / "responder.py"
DEADLINE_S = 60


def _env(receiver: OtlpReceiver, service: str, **more: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "OTEL_"))}
    return base | receiver.env(service) | more


async def _spawn(argv: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=sink,
        )  # fmt: skip


async def _line(process: asyncio.subprocess.Process, log: Path) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), DEADLINE_S)
    assert line, f"the process said nothing:\n{log.read_text()[-3000:]}"
    return line.decode().strip()


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


def _in(trace: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in trace if s.name == name]
    assert found, f"no span {name!r} in the trace:\n{describe(trace)}"
    return found[0]


async def test_a_request_response_between_two_processes_is_one_trace(
    kafka_bootstrap_servers: str, unique: str, tmp_path: Path
) -> None:
    agent = f"traced-doubler-{unique}"
    log = tmp_path / "processes.log"
    with OtlpReceiver() as receiver:
        responder = await _spawn(
            [str(RESPONDER), kafka_bootstrap_servers, agent], _env(receiver, "responder"), log
        )
        try:
            assert await _line(responder, log) == "ready"
            requester = await _spawn(
                [str(HERE / "bus_client.py"), "request", kafka_bootstrap_servers, agent],
                _env(receiver, "requester"),
                log,
            )
            trace_id = await _line(requester, log)
            assert json.loads(await _line(requester, log)) == {"x": 42}
            assert await asyncio.wait_for(requester.wait(), DEADLINE_S) == 0, log.read_text()
            spans = await receiver.wait_for(
                lambda spans: any(
                    s.service == "responder" and s.trace_id == trace_id for s in spans
                )
            )
        finally:
            await _stop(responder)
    trace = [s for s in spans if s.trace_id == trace_id]
    ids = {s.span_id: s for s in trace}
    root = _in(trace, "traced request")
    request = _in(trace, f"{agent} request")
    served = _in(trace, f"agent.{agent} process")
    assert request.parent_id == root.span_id and request.kind == "PRODUCER", describe(trace)
    # The responder, in its own process, continued the requester's trace from the headers.
    assert served.service == "responder" and served.kind == "CONSUMER"
    assert ids[served.parent_id] is request, describe(trace)
    assert served.attributes["messaging.destination.name"] == f"agent.{agent}"
    assert isinstance(served.attributes["messaging.kafka.offset"], int)


async def test_a_kafka_message_through_the_bridge_continues_the_producers_trace_into_the_workflow(
    temporal_client: Client, kafka_bootstrap_servers: str, unique: str, tmp_path: Path
) -> None:
    topic = f"traced-meters-{unique}"
    config = facility_routes(tmp_path, topic, unique)
    temporal = {
        "ORCH_TEMPORAL_ADDRESS": temporal_client.service_client.config.target_host,
        "ORCH_TEMPORAL_NAMESPACE": temporal_client.namespace,
        "ORCH_STATE_DIR": str(tmp_path / "state"),
    }
    log = tmp_path / "processes.log"
    with OtlpReceiver() as receiver:
        worker = await _spawn(
            [str(HERE / "facility_worker.py"), unique],
            _env(receiver, "facility-worker", **temporal),
            log,
        )
        bridge = await _spawn(
            ["-m", "orchestration.cli", "bridge"],
            _env(
                receiver, "orchestration-bridge", **temporal,
                ORCH_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap_servers,
                ORCH_BRIDGE_CONFIG=str(config), ORCH_BRIDGE_METRICS_PORT=str(free_port()),
            ),
            log,
        )  # fmt: skip
        try:
            assert await _line(worker, log) == "ready"
            payload = {"facility_id": "f1", "kwh": 100.0, "factor_kg_per_kwh": 0.25}
            publisher = await _spawn(
                [str(HERE / "bus_client.py"), "publish", kafka_bootstrap_servers, topic,
                 json.dumps(payload)],
                _env(receiver, "meter"),
                log,
            )  # fmt: skip
            trace_id = await _line(publisher, log)
            assert await asyncio.wait_for(publisher.wait(), DEADLINE_S) == 0, log.read_text()

            def signalled(spans: list[ReceivedSpan]) -> bool:
                trace = [s for s in spans if s.trace_id == trace_id]
                names = {s.name for s in trace}
                wanted = {"HandleSignal:reading", f"{topic} bridge"}
                return wanted <= names and not orphans(trace)

            spans = await receiver.wait_for(signalled)
        finally:
            await _stop(bridge)
            await _stop(worker)
    trace = [s for s in spans if s.trace_id == trace_id]
    tree = describe(trace)
    ids = {s.span_id: s for s in trace}
    published = _in(trace, "traced publish")
    bridged = _in(trace, f"{topic} bridge")
    assert bridged.service == "orchestration-bridge" and bridged.kind == "CONSUMER", tree
    assert ids[bridged.parent_id] is published, tree
    assert bridged.attributes["orchestration.workflow_id"] == f"{unique}-f1"
    assert bridged.attributes["messaging.destination.name"] == topic
    # The bridge's signal-with-start, and the workflow handling it on the worker.
    start = next(s for s in trace if s.name.startswith("SignalWithStartWorkflow:"))
    assert ids[start.parent_id] is bridged, tree
    handled = _in(trace, "HandleSignal:reading")
    assert handled.service == "facility-worker", tree
    assert not orphans(trace), tree
