"""``orchestration swarm deploy task.json``: start a swarm and follow it with a progress bar."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pydantic
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import WorkflowFailureError

from orchestration.clients.swarm import SwarmOrchestrator, swarm_error
from orchestration.core.exceptions import ConfigurationError
from orchestration.core.settings import Settings
from orchestration.core.validation import validation_error
from workflows.swarm_models import SwarmProgress, SwarmTask

__all__ = ["deploy", "load_task", "progress_table", "status"]

_POLL_S = 0.25


def load_task(path: Path) -> SwarmTask:
    """A ``SwarmTask`` from a JSON file.

    Raises:
        ConfigurationError: unreadable or not JSON.
        ValidationError: not a valid task (naming the fields).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{str(path)!r} is not valid JSON: {exc}") from None
    try:
        return SwarmTask.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error(f"swarm task in {path}", exc, "task") from None


async def deploy(task: SwarmTask, settings: Settings, console: Console) -> dict[str, Any]:
    """Deploy ``task``, showing progress until it ends; return its result."""
    swarm = SwarmOrchestrator(settings=settings)
    await swarm.initialize()
    handle = await swarm.start(task)
    console.print(
        f"swarm [bold]{task.swarm_id}[/] started ({task.behavior.value}, "
        f"{task.data_partitions:,} partitions, {task.agents_required} agents)"
    )
    result_task = asyncio.ensure_future(handle.result())
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        row = bar.add_task("partitions", total=task.data_partitions, detail="")
        while not result_task.done():
            progress = await swarm.progress(task.swarm_id)
            if progress is not None:
                bar.update(
                    row,
                    completed=progress.completed,
                    detail=f"convergence {progress.convergence:.1%}, "
                    f"{progress.failed} failed, round {progress.iterations}",
                )
            await asyncio.wait({result_task}, timeout=_POLL_S)
        try:
            result: dict[str, Any] = result_task.result()
        except WorkflowFailureError as exc:
            raise swarm_error(task.swarm_id, exc) from exc
        bar.update(
            row,
            completed=result["partitions_completed"],
            detail=f"convergence {result['convergence']:.1%}, "
            f"{result['partitions_failed']} failed, round {result['iterations']}",
        )
    return result


async def status(swarm_id: str, settings: Settings) -> SwarmProgress | None:
    """The swarm's progress (running or finished); None before it planned its partitions.

    Raises:
        SwarmError: there is no swarm with that id.
    """
    swarm = SwarmOrchestrator(settings=settings)
    await swarm.initialize()
    return await swarm.progress(swarm_id)


def progress_table(progress: SwarmProgress) -> Table:
    table = Table(
        title=f"swarm {progress.swarm_id} ({progress.behavior.value})",
        title_justify="left",
        show_header=False,
    )
    table.add_column("")
    table.add_column("", justify="right")
    rows = (
        ("partitions completed", f"{progress.completed:,} / {progress.partitions:,}"),
        ("failed", f"{progress.failed:,}"),
        ("in flight", f"{progress.in_flight:,}"),
        ("pending", f"{progress.pending:,}"),
        ("items", f"{progress.items_done:,} / {progress.items_total:,}"),
        ("convergence", f"{progress.convergence:.2%}"),
        ("iterations", f"{progress.iterations:,}"),
        ("elapsed", f"{progress.elapsed_ms:,.0f} ms"),
        ("runs (continue-as-new)", f"{progress.runs:,}"),
    )
    for name, value in rows:
        table.add_row(name, value)
    return table
