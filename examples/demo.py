"""``make demo``: bring the embedded stack up, run the hello agent through a real workflow.

Uses a stack that is already running (``orchestration up``) when Temporal answers at
``ORCH_TEMPORAL_ADDRESS``; otherwise starts the embedded one and stops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from examples.hello_agent import agent
from orchestration.exceptions import OrchestrationError
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


async def main() -> int:
    settings = get_settings()
    async with running_stack(settings):
        client = await connect(settings)
        stop = asyncio.Event()
        agent_run = asyncio.create_task(agent.run(client=client, stop=stop))
        workflow_id = f"hello-{uuid.uuid4().hex[:8]}"
        try:
            handle = await client.start_workflow(
                AgentTaskWorkflow.run,
                AgentTaskInput(agent_id=agent.agent_id, action="greet", data={"name": "GreenLang"}),
                id=workflow_id,
                task_queue=settings.task_queue,
            )
            result = await asyncio.wait_for(handle.result(), timeout=60)
        finally:
            stop.set()
            await agent_run
        ui = (
            f"http://{settings.temporal.host}:{settings.temporal.ui_port}/namespaces/"
            f"{settings.temporal.namespace}/workflows/{workflow_id}/{handle.result_run_id}/history"
        )
        console.print(f"\n[bold green]Workflow {workflow_id} completed.[/]")
        console.print(f"  result: {result.output}")
        console.print(f"  Web UI: {ui}")
        console.print(
            "  (history is kept in "
            f"{settings.temporal_db_file}: run `orchestration up` to browse it)\n"
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
