"""``make demo``: bring the embedded stack up and run real workflows through it.

1. the hello agent through ``AgentTaskWorkflow``;
2. the CSRD report saga with four example agents: once to completion, and once with an
   invalid record so validation fails and the saga compensates (deletes the collected data).

Uses a stack that is already running (``orchestration up``) when Temporal answers at
``ORCH_TEMPORAL_ADDRESS``; otherwise starts the embedded one and stops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from temporalio.client import Client

from examples.csrd.agents import ALL_AGENTS
from examples.csrd.saga import csrd_transaction
from examples.hello_agent import agent
from orchestration.exceptions import OrchestrationError, SagaError
from orchestration.saga import SagaOrchestrator
from orchestration.settings import Settings, get_settings
from orchestration.stack import EmbeddedStack
from orchestration.temporal_client import connect
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput

console = Console(highlight=False, soft_wrap=True)


@contextlib.asynccontextmanager
async def running_stack(settings: Settings) -> AsyncIterator[None]:
    try:
        await connect(settings, timeout_s=1.5)
    except OrchestrationError:
        console.print(
            "[bold]Starting the embedded stack[/] (Temporal, Kafka broker, database, worker)..."
        )
        async with EmbeddedStack(settings) as stack:
            for name, address in stack.addresses.items():
                console.print(f"  {name:<16} {address}")
            yield
        console.print("Embedded stack stopped; every child process exited.")
        return
    console.print(f"Using the stack already running at {settings.temporal.address}.")
    yield


def ui_link(settings: Settings, workflow_id: str) -> str:
    return (
        f"http://{settings.temporal.host}:{settings.temporal.ui_port}/namespaces/"
        f"{settings.temporal.namespace}/workflows/{workflow_id}"
    )


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
    ok = csrd_transaction(f"csrd-acme-{suffix}")
    outputs = await asyncio.wait_for(
        sagas.execute(ok, {"company": "Acme Steel", "period": "2025", "facilities": 4}), 120
    )
    console.print(f"\n[bold green]2. CSRD saga {ok.transaction_id} completed.[/]")
    console.print(f"   emissions (kg CO2e): {outputs['generate_report']['emissions_kg']}")
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


async def main() -> int:
    # Saga 3 fails validation on purpose; the SDK would print that expected failure's traceback.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    settings = get_settings()
    async with running_stack(settings):
        client = await connect(settings)
        stop = asyncio.Event()
        runs = [asyncio.create_task(a.run(client=client, stop=stop)) for a in (agent, *ALL_AGENTS)]
        try:
            await hello(settings, client)
            await csrd(settings, client)
        finally:
            stop.set()
            await asyncio.gather(*runs)
        console.print(
            f"\n(history is kept in {settings.temporal_db_file}: run "
            "`orchestration up` to browse it in the Web UI)\n"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except OrchestrationError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
