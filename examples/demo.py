"""``make demo``: bring the embedded stack up and run real workflows through it.

1. the hello agent through ``AgentTaskWorkflow``;
2.-3. the CSRD report saga with four example agents: once to completion, its report signed
   off by the CFO (the demo approves it, as ``orchestration saga approve`` would), and once
   with an invalid record so validation fails and the saga compensates (deletes the data);
4. the CSRD saga with its emissions calculated by capability, over three calculators (two
   Temporal workers, one on the bus); the preferred one is killed (SIGKILL) first, and the
   step is routed to another;
5. a swarm over a supplier CSV export (20,000 rows, a few of them bad) in 200 partitions
   over 10 example agents, checked against the sequential calculation to the cent, the bad
   rows rejected into the swarm's manifest;
6. the message bus: a request to an agent served over Kafka, and its reply.

Uses a stack that is already running (``orchestration up``) when Temporal answers at
``ORCH_TEMPORAL_ADDRESS``; otherwise starts the embedded one and stops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client

from bus.message import Message, MessageType
from bus.message_bus import MessageBus
from examples.csrd.agents import ALL_AGENTS
from examples.csrd.calculators import CALCULATORS, eu_calculator
from examples.csrd.saga import CALCULATE, SIGN_OFF, csrd_transaction
from examples.hello_agent import agent
from examples.stack import console, running_stack, ui_link
from examples.swarm.agents import make_agents
from examples.swarm.supplier_csv import csv_total, write_suppliers_csv
from orchestration import Settings, SwarmConfig, get_settings
from orchestration.clients.saga import SagaOrchestrator
from orchestration.clients.swarm import SwarmOrchestrator
from orchestration.core.lifecycle import exit_process
from orchestration.core.settings import RouteConfig
from orchestration.core.temporal_client import connect
from orchestration.exceptions import OrchestrationError, SagaError
from registry.remote_registry import RemoteAgentRegistry
from swarm.scheduling import SwarmBehavior
from workers.agent_runtime import run_agent
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput
from workflows.saga_models import SagaState
from workflows.swarm_files import DatasetSource, ResultWriter
from workflows.swarm_models import SwarmTask

CFO = "cfo@acme.example"


async def hello(settings: Settings, client: Client) -> None:
    workflow_id = f"hello-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        AgentTaskWorkflow.run,
        AgentTaskInput(agent_id=agent.agent_id, action="greet", data={"name": "GreenLang"}),
        id=workflow_id,
        task_queue=settings.task_queue,
    )
    result = await asyncio.wait_for(handle.result(), timeout=60)
    console.print(f"\n[bold green]1. Workflow {workflow_id} completed.[/]")
    console.print(f"   result: {result.output}")
    console.print(f"   Web UI: {ui_link(settings, workflow_id)}")


async def csrd(settings: Settings, client: Client) -> None:
    sagas = SagaOrchestrator(None, settings=settings, client=client)
    suffix = uuid.uuid4().hex[:8]
    ok = csrd_transaction(f"csrd-acme-{suffix}", sign_off_by=[CFO])
    data = {"company": "Acme Steel", "period": "2025", "facilities": 4}
    running = asyncio.ensure_future(asyncio.wait_for(sagas.execute(ok, data), 120))
    awaiting = await _awaiting_sign_off(sagas, ok.transaction_id)
    await sagas.approve(ok.transaction_id, SIGN_OFF, approver=CFO, comment="figures checked")
    outputs = await running
    console.print(f"\n[bold green]2. CSRD saga {ok.transaction_id} completed.[/]")
    console.print(f"   emissions (kg CO2e): {outputs['generate_report']['emissions_kg']}")
    console.print(f"   signed off by: {outputs[SIGN_OFF]['approved_by']} (the demo approved "
                  f"it {awaiting:.1f} s in, when the saga asked)")  # fmt: skip
    console.print(f"   published: {outputs['publish']['published']}")
    console.print(f"   Web UI: {ui_link(settings, ok.transaction_id)}")

    bad = csrd_transaction(f"csrd-beta-{suffix}")
    try:
        await asyncio.wait_for(
            sagas.execute(
                bad, {"company": "Beta Cement", "period": "2025", "inject_invalid_record": True}
            ),
            120,
        )
    except SagaError as error:
        execution = error.execution
        console.print(
            f"\n[bold yellow]3. CSRD saga {bad.transaction_id} failed and was rolled back.[/]"
        )
        console.print(f"   state: {execution.state}; failed step: {execution.failed_step}")
        console.print(f"   compensated: {', '.join(execution.compensated_steps)}")
        console.print(f"   Web UI: {ui_link(settings, bad.transaction_id)}")
    else:
        raise SagaError("the invalid CSRD saga unexpectedly completed")


async def csrd_routed(settings: Settings, client: Client) -> None:
    """The emissions step by capability, its preferred calculator killed just before."""
    killed = await _killed_calculator(settings)
    # A calculator that does not pick the call up within 3 s is passed over (default 30 s).
    routed = settings.model_copy(update={"route": RouteConfig(start_timeout_ms=3000)})
    sagas = SagaOrchestrator(None, settings=routed, client=client)
    saga = csrd_transaction(f"csrd-gamma-{uuid.uuid4().hex[:8]}", calculate_by_capability=True)
    data = {"company": "Gamma Metals", "period": "2025", "facilities": 2}
    outputs = await asyncio.wait_for(sagas.execute(saga, data), 120)
    status = await sagas.get_execution_status(saga.transaction_id)
    tried = await _calculators_tried(client, saga.transaction_id)
    console.print(f"\n[bold green]4. CSRD saga {saga.transaction_id}: emissions by capability.[/]")
    console.print(f"   {killed} (eu-west-1, preferred) was killed with SIGKILL before the saga")
    console.print(f"   calculators called, in order: {', '.join(tried)}")
    console.print(f"   calculated by: {status.steps[CALCULATE].agent_id} -> "
                  f"{outputs[CALCULATE]['emissions_kg']}")  # fmt: skip
    console.print(f"   Web UI: {ui_link(settings, saga.transaction_id)}")


async def _killed_calculator(settings: Settings) -> str:
    """Run ``calc-eu-1`` as its own process until it registered, then SIGKILL it."""
    agent_id = eu_calculator.agent_id
    async with RemoteAgentRegistry(settings.registry.service_url) as registry:
        await registry.deregister(agent_id)  # what an earlier demo's kill left behind
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "orchestration.cli", "agent"),
            "examples.csrd.calculators:eu_calculator",
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "ORCH_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(OrchestrationError):
                        await registry.get_agent(agent_id)
                        break
                    await asyncio.sleep(0.2)
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
    return agent_id


async def _calculators_tried(client: Client, workflow_id: str) -> list[str]:
    """The calculators the step's calls went to, from the saga's history."""
    tried = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if not event.HasField("activity_task_scheduled_event_attributes"):
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name == "calculate":
            tried.append(scheduled.task_queue.name)
        elif scheduled.activity_type.name == "orchestration.kafka_call":
            call = json.loads(scheduled.input.payloads[0].data)
            if call["action"] == "calculate":
                tried.append(f"{call['agent_id']} (on the bus)")
    return tried


async def _awaiting_sign_off(sagas: SagaOrchestrator, transaction_id: str) -> float:
    """Seconds until the saga asks for the sign-off (at most 60)."""
    started = asyncio.get_running_loop().time()
    async with asyncio.timeout(60):
        while True:
            with contextlib.suppress(SagaError):  # not started running yet
                status = await sagas.get_execution_status(transaction_id)
                if status.state == SagaState.AWAITING_APPROVAL:
                    return asyncio.get_running_loop().time() - started
            await asyncio.sleep(0.1)


SWARM_AGENTS = make_agents(0, 10, prefix="demo-emissions")


async def swarm(settings: Settings, client: Client) -> None:
    orchestrator = SwarmOrchestrator(
        client=client, settings=settings, config=SwarmConfig(min_agents=1)
    )
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    export = write_suppliers_csv(settings.state_dir / "demo-suppliers.csv", 20_000)
    task = SwarmTask(
        objective="Calculate supplier emissions from the CSV export (demo)",
        agents_required=len(SWARM_AGENTS),
        agents=[a.agent_id for a in SWARM_AGENTS],
        behavior=SwarmBehavior.FORAGING,
        action="calculate_rows",
        source=DatasetSource(uri=str(export.resolve()), rows_per_partition=100),
        result_writer=ResultWriter(uri=str((settings.state_dir / "swarm-runs").resolve())),
        swarm_id=f"swarm-demo-{uuid.uuid4().hex[:8]}",
    )
    result = await orchestrator.deploy(task)
    expected, bad = csv_total(export)
    same = "equal" if str(expected) == result["result"] else "DIFFERENT"
    console.print(f"\n[bold green]5. Swarm {task.swarm_id} converged.[/]")
    console.print(
        f"   {result['evaluations']:,} rows of {export.name}, {result['partitions']} "
        f"partitions, {result['duration_ms']:.0f} ms over {len(result['agents'])} agents\n"
        f"   total {result['result']} kg CO2e (sequential: {expected}, {same})\n"
        f"   {result['rows_rejected']} bad rows rejected (sequential: {bad})"
    )
    console.print(f"   manifest: {result['manifest_uri']}")
    console.print(f"   Web UI: {ui_link(settings, task.swarm_id)}")


async def bus_request(settings: Settings) -> None:
    async with MessageBus(settings.kafka) as calculator, MessageBus(settings.kafka) as caller:

        async def factor(request: Message) -> dict[str, object]:
            kwh = float(request.payload["kwh"])
            return {"value": round(kwh * 0.23314, 3), "unit": "kg CO2e"}

        await calculator.serve("demo-grid-factor", factor)
        reply = await caller.request_response(
            Message(
                sender_id="demo-client",
                recipient_id="demo-grid-factor",
                message_type=MessageType.REQUEST,
                payload={"kwh": 1200},
            ),
            timeout_ms=10_000,
        )
    console.print("\n[bold green]6. Request-response over Kafka answered.[/]")
    console.print(f"   1,200 kWh -> {reply.payload['value']} {reply.payload['unit']}")


async def main() -> int:
    # Saga 3 fails validation on purpose; the SDK would print that expected failure's traceback.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    settings = get_settings()
    async with running_stack(settings):
        client = await connect(settings)
        stop = asyncio.Event()
        calculators = [c for c in CALCULATORS if c is not eu_calculator]
        workers = (agent, *ALL_AGENTS, *SWARM_AGENTS, *calculators)
        runs = [
            asyncio.create_task(run_agent(a, settings, client=client, bus=None, stop=stop))
            for a in workers
        ]
        try:
            await hello(settings, client)
            await csrd(settings, client)
            await csrd_routed(settings, client)
            await swarm(settings, client)
            await bus_request(settings)
        finally:
            stop.set()
            await asyncio.gather(*runs)
        console.print(
            f"\n(history is kept in {settings.temporal_db_file}: run "
            "`orchestration up` to browse it in the Web UI)\n"
        )
    return 0


def run() -> int:
    try:
        return asyncio.run(main())
    except OrchestrationError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    exit_process(run())
