"""What the runnable examples share: the embedded stack (started, or reused) and the console.

``running_stack`` uses a stack that is already running (``orchestration up``) when Temporal
answers at ``ORCH_TEMPORAL_ADDRESS``; otherwise it starts the embedded one and stops it at
the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from rich.console import Console

from orchestration import Settings
from orchestration.core.temporal_client import connect
from orchestration.exceptions import OrchestrationError
from orchestration.stack import EmbeddedStack

__all__ = ["console", "running_stack", "ui_link"]

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
