"""One trace per saga (and per swarm): the CLI that starts it, the workflow, every step and
compensation (or partition) on its agent, and the agent handler's own span, parented as they
ran; several processes exporting to a receiver that decodes the real OTLP protobuf."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from orchestration.stack.processes import ManagedProcess
from orchestration.testing.otlp import OtlpReceiver, ReceivedSpan, describe, orphans, trace_of
from tests.tracing.processes import start_csrd_agents, start_registry, start_worker, traced_env
from tests.workers.cli import orchestration

EXAMPLES = Path(__file__).parents[2] / "examples"
SAGA = EXAMPLES / "inputs" / "csrd_saga.json"
SWARM_AGENTS = EXAMPLES / "swarm" / "agents.py"


def _by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.name: s for s in spans}


async def test_a_compensated_csrd_saga_is_one_trace_from_the_cli_to_the_handlers(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    queue = f"traced-{unique}"
    saga_id = f"traced-csrd-{unique}"
    data = {"company": f"Traced {unique}", "period": "2025", "inject_invalid_record": True}
    with OtlpReceiver() as receiver:
        worker = await start_worker(tmp_path, client, receiver, queue)
        agents = await start_csrd_agents(tmp_path, client, receiver, LOG_FORMAT="json")
        try:
            env = traced_env(tmp_path, client, receiver, "orchestration-cli", TASK_QUEUE=queue)
            started = await orchestration(
                "saga", "start", str(SAGA), "--id", saga_id, "--data", json.dumps(data), env=env
            )
            assert started.code != 0, started.stdout  # validation fails: the saga compensates
            assert "compensat" in (started.stdout + started.stderr).lower(), started.stderr

            def complete(spans: list[ReceivedSpan]) -> bool:
                trace = trace_of(spans, saga_id)
                names = {s.name for s in trace}
                wanted = {"delete_data on agent-collector", "csrd.check_records"}
                return wanted <= names and not orphans(trace)

            spans = await receiver.wait_for(complete)
        finally:
            await agents.stop()
            await worker.stop()

    start = next(
        s
        for s in spans
        if s.name == "StartWorkflow:SagaWorkflow"
        and s.attributes.get("temporalWorkflowID") == saga_id
    )
    trace = [s for s in spans if s.trace_id == start.trace_id]
    tree = describe(trace)
    ids = {s.span_id: s for s in trace}
    by_name = _by_name(trace)

    # The client's span is the root, in the CLI's process.
    assert start.parent_id == "" and start.service == "orchestration-cli", tree
    # Every span of the trace hangs from it: nothing orphaned, nothing in another trace.
    for s in trace:
        assert s is start or s.parent_id in ids, f"{s.name} has no parent in the trace:\n{tree}"

    def parent(name: str) -> ReceivedSpan:
        return ids[by_name[name].parent_id]

    # The workflow ran on the worker, under the client's start.
    assert by_name["RunWorkflow:SagaWorkflow"].service == "orchestration-worker", tree
    # Each step and the compensation: scheduled by the workflow, run on the agent, our span
    # inside the activity's, carrying what operators ask.
    for action, agent, step, compensation in (
        ("collect", "agent-collector", "collect_data", False),
        ("validate", "agent-validator", "validate", False),
        ("delete_data", "agent-collector", "collect_data", True),
    ):
        ours = by_name[f"{action} on {agent}"]
        assert ours.service == "csrd-agents", tree
        assert parent(f"{action} on {agent}").name == f"RunActivity:{action}", tree
        assert parent(f"RunActivity:{action}").name == f"StartActivity:{action}", tree
        assert by_name[f"StartActivity:{action}"].service == "orchestration-worker", tree
        assert ours.attributes["orchestration.agent.id"] == agent
        assert ours.attributes["orchestration.action"] == action
        assert ours.attributes["orchestration.step"] == step
        assert ours.attributes["orchestration.saga.name"] == "csrd_report_generation"
        assert ours.attributes["orchestration.caller"] == saga_id
        assert ours.attributes["orchestration.compensation"] is compensation
        assert ours.attributes["orchestration.attempt"] == 1
        suffix = "/compensate" if compensation else ""
        assert ours.attributes["orchestration.idempotency_key"] == f"{saga_id}/{step}{suffix}"
    # The step that failed says why; the ones that worked do not.
    failed = by_name["validate on agent-validator"]
    assert failed.failed and "AgentError" in failed.status_message, tree
    assert failed.attributes["error.type"] == "AgentError"
    assert not by_name["collect on agent-collector"].failed
    # The handler's own span (the OpenTelemetry API in examples/csrd/agents.py) nests under
    # the step's span on the agent.
    assert parent("csrd.check_records").name == "validate on agent-validator", tree
    assert by_name["csrd.check_records"].attributes["csrd.problems"] >= 1
    # No step after the failure ran.
    assert "generate on agent-reporter" not in by_name, tree
    # ORCH_LOG_FORMAT=json: the handler's log line names the span it was logged in.
    lines = [json.loads(line) for line in agents.log_file.read_text().splitlines()[1:] if line]
    rejected = next(line for line in lines if "record(s) rejected" in line["message"])
    assert rejected["trace_id"] == start.trace_id
    assert rejected["span_id"] == by_name["csrd.check_records"].span_id
    assert rejected["level"] == "INFO" and rejected["logger"] == "examples.csrd.agents"


async def test_a_saga_whose_worker_is_killed_and_restarted_is_still_one_connected_trace(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    queue = f"traced-kill-{unique}"
    saga_id = f"traced-kill-{unique}"
    # Each step waits 1.5 s after its effect: the kill lands while collect_data runs.
    data = {"company": f"Kill {unique}", "period": "2025", "latency_ms": 1500}
    with OtlpReceiver() as receiver:
        worker = await start_worker(tmp_path, client, receiver, queue)
        agents = await start_csrd_agents(tmp_path, client, receiver)
        try:
            env = traced_env(tmp_path, client, receiver, "orchestration-cli", TASK_QUEUE=queue)
            started = await orchestration(
                "saga", "start", str(SAGA), "--id", saga_id, "--data", json.dumps(data),
                "--no-wait", env=env,
            )  # fmt: skip
            assert started.code == 0, started.stderr
            await receiver.wait_for(
                lambda spans: any(s.name == "StartActivity:collect" for s in spans)
            )
            os.kill(worker.pid, signal.SIGKILL)  # mid-step: its workflow task state is lost
            await worker.wait()
            worker = await start_worker(tmp_path, client, receiver, queue)
            result = await asyncio.wait_for(client.get_workflow_handle(saga_id).result(), 120)
            assert result["state"] == "COMPLETED", result

            def published(spans: list[ReceivedSpan]) -> bool:
                trace = trace_of(spans, saga_id)
                done = any(s.name == "publish on agent-publisher" for s in trace)
                return done and not orphans(trace)

            spans = await receiver.wait_for(published)
        finally:
            await agents.stop()
            await worker.stop()

    start = next(s for s in spans if s.attributes.get("temporalWorkflowID") == saga_id)
    trace = [s for s in spans if s.trace_id == start.trace_id]
    tree = describe(trace)
    assert not orphans(trace), f"spans whose parent is missing:\n{tree}"
    names = [s.name for s in trace]
    for action, agent in (
        ("collect", "agent-collector"),
        ("validate", "agent-validator"),
        ("generate", "agent-reporter"),
        ("publish", "agent-publisher"),
    ):
        assert names.count(f"{action} on {agent}") == 1, tree  # each step ran once
    # The steps after the restart were scheduled by the new worker, in the same trace.
    assert "StartActivity:publish" in names, tree


async def test_a_routed_step_shows_the_routing_decision_and_the_registry_call_in_the_trace(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    queue = f"traced-routed-{unique}"
    saga_id = f"traced-routed-{unique}"
    saga = {
        "transaction": {
            "name": "csrd_routed",
            "steps": [
                {"name": "collect_data", "capability": "data_collection", "action": "collect",
                 "compensation": "delete_data"},
                {"name": "validate", "capability": "data_validation", "action": "validate",
                 "depends_on": ["collect_data"]},
            ],
        },
        "initial_data": {"company": f"Routed {unique}", "period": "2025"},
    }  # fmt: skip
    path = tmp_path / "routed.json"
    path.write_text(json.dumps(saga))
    with OtlpReceiver() as receiver:
        registry, url = await start_registry(tmp_path, client, receiver)
        worker = await start_worker(tmp_path, client, receiver, queue, REGISTRY_URL=url)
        agents = await start_csrd_agents(tmp_path, client, receiver, REGISTRY_URL=url)
        try:
            async with httpx.AsyncClient(base_url=url, timeout=5) as http:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 60
                while (await http.get("/agents/agent-validator")).status_code != 200:
                    assert loop.time() < deadline, agents.log_file.read_text()[-2000:]
                    await asyncio.sleep(0.1)
            env = traced_env(tmp_path, client, receiver, "orchestration-cli", TASK_QUEUE=queue)
            started = await orchestration("saga", "start", str(path), "--id", saga_id, env=env)
            assert started.code == 0, started.stdout + started.stderr

            def validated(spans: list[ReceivedSpan]) -> bool:
                trace = trace_of(spans, saga_id)
                done = any(s.name == "validate on agent-validator" for s in trace)
                return done and not orphans(trace)

            spans = await receiver.wait_for(validated)
        finally:
            await agents.stop()
            await worker.stop()
            await registry.stop()

    start = next(s for s in spans if s.attributes.get("temporalWorkflowID") == saga_id)
    trace = [s for s in spans if s.trace_id == start.trace_id]
    tree = describe(trace)
    ids = {s.span_id: s for s in trace}
    routes = [s for s in trace if s.name == "route data_collection"]
    assert routes, tree
    decision = routes[-1]  # the one that found the agent
    assert decision.service == "orchestration-worker", tree
    assert decision.attributes["orchestration.route.agent_id"] == "agent-collector"
    assert decision.attributes["orchestration.route.candidates"] == 1
    assert decision.attributes["orchestration.route.strategy"]
    # The worker's call to the registry service, and the service answering it, in the trace.
    asked = [s for s in trace if s.kind == "CLIENT" and ids.get(s.parent_id) is decision]
    assert asked, f"no registry call under the routing decision:\n{tree}"
    served = [s for s in trace if s.service == "orchestration-registry" and s.kind == "SERVER"]
    assert any(ids.get(s.parent_id) is asked[0] for s in served), tree
    assert any("/discover" in s.name for s in served), tree
    # The routed step then ran on the agent the decision named, in the same trace.
    assert ids[by_parent_name(trace, "collect on agent-collector")].name == "RunActivity:collect"


def by_parent_name(trace: list[ReceivedSpan], name: str) -> str:
    """The parent id of the span called ``name``."""
    return next(s.parent_id for s in trace if s.name == name)


async def test_a_swarms_partitions_are_spans_of_its_trace_with_their_ranges(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    queue = f"traced-swarm-{unique}"
    prefix = f"traced-{unique}"
    swarm_id = f"traced-swarm-{unique}"
    agents_ids = [f"{prefix}-{n:03d}" for n in range(2)]
    task = {
        "swarm_id": swarm_id, "objective": "traced partitions", "data_partitions": 12,
        "agents_required": 2, "action": "calculate_emissions", "agents": agents_ids,
        "params": {"suppliers_per_partition": 5},
    }  # fmt: skip
    path = tmp_path / "swarm.json"
    path.write_text(json.dumps(task))
    with OtlpReceiver() as receiver:
        worker = await start_worker(tmp_path, client, receiver, queue)
        env = traced_env(tmp_path, client, receiver, "swarm-agents", AGENT_REGISTER="false")
        agents = await ManagedProcess.spawn(
            "swarm agents",
            [sys.executable, str(SWARM_AGENTS), "--count", "2", "--prefix", prefix],
            log_file=tmp_path / "swarm-agents.log",
            env=env,
        )
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while "ready" not in agents.log_file.read_text():
                assert agents.alive and loop.time() < deadline, agents.tail()
                await asyncio.sleep(0.1)
            env = traced_env(
                tmp_path, client, receiver, "orchestration-cli", TASK_QUEUE=queue,
                SWARM_MIN_AGENTS="1",
            )  # fmt: skip
            deployed = await orchestration("swarm", "deploy", str(path), "--json", env=env)
            assert deployed.code == 0, deployed.stdout + deployed.stderr

            def all_partitions(spans: list[ReceivedSpan]) -> bool:
                trace = trace_of(spans, swarm_id)
                done = sum(s.name == "calculate_emissions partition" for s in trace) >= 12
                return done and not orphans(trace)

            spans = await receiver.wait_for(all_partitions)
        finally:
            await agents.stop()
            await worker.stop()

    start = next(s for s in spans if s.name == "StartWorkflow:SwarmWorkflow")
    trace = [s for s in spans if s.trace_id == start.trace_id]
    tree = describe(trace)
    ids = {s.span_id: s for s in trace}
    partitions = [s for s in trace if s.name == "calculate_emissions partition"]
    assert sorted(s.attributes["orchestration.swarm.partition"] for s in partitions) == list(
        range(12)
    ), tree
    for s in partitions:
        assert s.attributes["orchestration.swarm.id"] == swarm_id
        assert s.attributes["orchestration.swarm.partitions"] == 12
        assert ids[s.parent_id].name == "RunActivity:orchestration.swarm_batch", tree
        assert s.service == "swarm-agents"
    # Each partition's action ran inside its partition span.
    actions = [s for s in trace if s.name.startswith("calculate_emissions on ")]
    assert len(actions) == 12 and all(ids[s.parent_id] in partitions for s in actions), tree
    assert not orphans(trace), tree
