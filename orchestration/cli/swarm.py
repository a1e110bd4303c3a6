"""``orchestration swarm deploy task.json``: start a swarm and follow it with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pydantic
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text
from temporalio.client import WorkflowFailureError

from orchestration.cli.common import Column, fitted_table, read_json_file
from orchestration.clients.swarm import SwarmOrchestrator, swarm_error
from orchestration.core.settings import Settings
from orchestration.core.validation import validation_error
from workflows.swarm_models import SwarmProgress, SwarmTask

__all__ = ["deploy", "load_task", "progress_table", "result_table", "status"]

_POLL_S = 0.25


def load_task(path: Path) -> SwarmTask:
    """A ``SwarmTask`` from a JSON file.

    Raises:
        ConfigurationError: unreadable or not JSON.
        ValidationError: not a valid task (naming the fields).
    """
    data = read_json_file(path)
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


def progress_table(progress: SwarmProgress, *, width: int = 80) -> Group:
    """Where a running (or finished) swarm is, one figure a row."""
    rows = (
        ("partitions completed", f"{progress.completed:,} / {progress.partitions:,}"),
        ("failed", f"{progress.failed:,}"),
        ("in flight", f"{progress.in_flight:,}"),
        ("pending", f"{progress.pending:,}"),
        ("items", f"{progress.items_done:,} / {progress.items_total:,}"),
        ("convergence", f"{progress.convergence:.2%}"),
        ("iterations", f"{progress.iterations:,}"),
        ("elapsed", _duration(progress.elapsed_ms)),
        ("runs (continue-as-new)", f"{progress.runs:,}"),
    )
    title = f"swarm {progress.swarm_id} ({progress.behavior.value})"
    return _figures(title, rows, width)


def _figures(title: str, rows: tuple[tuple[str, str], ...], width: int) -> Group:
    columns = [Column("", [n for n, _ in rows], wraps=False), Column("", [v for _, v in rows])]
    return fitted_table(title, columns, width, show_header=False)


def result_table(result: dict[str, Any], *, width: int = 80) -> Group:
    """What ``swarm deploy`` prints at the end: the result's figures, rounded, and what
    efficiency means (``--json`` prints the result itself)."""
    verdict = "converged" if result["converged"] else "did not converge"
    title = f"swarm {result['swarm_id']} ({result['behavior']}): {result['status']}, {verdict}"
    took = _duration(result["duration_ms"])
    if result.get("convergence_time_ms") is not None and result["converged"]:
        took += f" (converged after {_duration(result['convergence_time_ms'])})"
    rows = (
        (
            "convergence",
            f"{result['convergence']:.1%} of the items "
            f"(threshold {result['convergence_threshold']:.0%})",
        ),
        (
            "partitions",
            f"{result['partitions_completed']:,} completed, {result['partitions_failed']:,} "
            f"failed, of {result['partitions']:,}",
        ),
        (
            "items",
            f"{result['items_processed']:,} of {result['items_total']:,} "
            f"({result['evaluations_per_s']:,.0f}/s)",
        ),
        ("result", "none" if result["result"] is None else str(result["result"])),
        ("duration", f"{took}, {result['iterations']:,} rounds, {result['runs']:,} run(s)"),
        ("efficiency", f"{result['efficiency']:.1%}"),
        ("errors", f"{result['error_count']:,}"),
    )
    return Group(
        _figures(title, rows, width),
        Text(
            "efficiency: the share of the agents' time spent on partitions, busy time / "
            "(agents x duration); low when many agents share a short job"
        ),
    )


def _duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:,.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:,.1f} s"
    return f"{ms / 60_000:,.1f} min"
