"""``orchestration swarm deploy task.json``: start a swarm and follow it with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pydantic
from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text
from temporalio.client import WorkflowFailureError

from orchestration.cli.common import Column, fitted_table, read_json_file
from orchestration.clients.swarm import SwarmOrchestrator, swarm_error
from orchestration.core.settings import Settings
from orchestration.core.validation import validation_error
from workflows.ranges import parse_ranges
from workflows.swarm_models import SwarmProgress, SwarmTask

__all__ = [
    "deploy",
    "load_task",
    "manifest_table",
    "progress_table",
    "redrive",
    "result_table",
    "status",
]

_POLL_S = 0.25
_SHOWN_FAILURES = 5


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
    """Deploy ``task``, showing progress until it ends; return its result.

    Raises:
        SwarmNotConvergedError: it ended below its threshold (``.result``: the result).
    """
    swarm = SwarmOrchestrator(settings=settings)
    await swarm.initialize()
    return await _follow(swarm, task, console)


async def redrive(
    swarm_id: str, settings: Settings, console: Console, agents: list[str] | None = None
) -> dict[str, Any]:
    """Redrive ``swarm_id`` (``SwarmOrchestrator.redrive``), showing progress as deploy."""
    swarm = SwarmOrchestrator(settings=settings)
    await swarm.initialize()
    task = await swarm.redrive_task(swarm_id, agents=agents)
    assert task.redrive is not None
    count = len(parse_ranges(task.redrive.partitions))
    console.print(f"redriving {count:,} partition(s) of {swarm_id}: {task.redrive.partitions}")
    return await _follow(swarm, task, console)


async def _follow(swarm: SwarmOrchestrator, task: SwarmTask, console: Console) -> dict[str, Any]:
    handle = await swarm.start(task)
    size = f"{task.data_partitions:,} partitions" if task.data_partitions else "a dataset"
    console.print(
        f"swarm [bold]{task.swarm_id}[/] started ({task.behavior.value}, {size}, "
        f"{task.agents_required} agents)"
    )
    result_task = asyncio.ensure_future(handle.result())
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        parts = bar.add_task("partitions", total=task.data_partitions, detail="")
        rows = bar.add_task("rows", total=None, detail="")
        while not result_task.done():
            progress = await swarm.progress(task.swarm_id)
            if progress is not None:
                p = progress
                _show(bar, parts, rows, p.partitions, p.completed, p.failed, p.items_total,
                      p.items_done, p.rows_rejected)  # fmt: skip
            await asyncio.wait({result_task}, timeout=_POLL_S)
        try:
            result: dict[str, Any] = result_task.result()
        except WorkflowFailureError as exc:
            raise swarm_error(task.swarm_id, exc) from exc
        _show(bar, parts, rows, result["partitions"], result["partitions_completed"],
              result["partitions_failed"], result["items_total"], result["items_processed"],
              result.get("rows_rejected", 0))  # fmt: skip
    return result


def _show(
    bar: Progress,
    parts: TaskID,
    rows: TaskID,
    partitions: int,
    completed: int,
    failed: int,
    items_total: int,
    items_done: int,
    rejected: int,
) -> None:
    bar.update(parts, total=partitions, completed=completed, detail=f"{failed:,} failed")
    bar.update(rows, total=items_total, completed=items_done, detail=f"{rejected:,} rejected")


async def status(
    swarm_id: str, settings: Settings
) -> tuple[SwarmProgress | None, tuple[str, dict[str, Any]] | None]:
    """The swarm's progress (running or finished; None before it planned its partitions),
    and ``(uri, manifest)`` of a finished swarm that wrote one (else None).

    Raises:
        SwarmError: there is no swarm with that id.
    """
    swarm = SwarmOrchestrator(settings=settings)
    await swarm.initialize()
    progress = await swarm.progress(swarm_id)
    return progress, await swarm.manifest(swarm_id)


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
        ("rows rejected", f"{progress.rows_rejected:,}"),
        ("runs (continue-as-new)", f"{progress.runs:,}"),
    )
    title = f"swarm {progress.swarm_id} ({progress.behavior.value})"
    return _figures(title, rows, width)


def manifest_table(manifest: dict[str, Any], uri: str, *, width: int = 80) -> Group:
    """A finished swarm's manifest in short: what failed and why, what to redrive."""
    failed = manifest.get("failed", [])
    rows: list[tuple[str, str]] = [
        ("manifest", uri),
        ("status", str(manifest.get("status"))),
        ("result", str(manifest.get("result"))),
        ("failed partitions", f"{manifest.get('partitions_failed', 0):,}"),
    ]
    if manifest.get("not_run"):
        rows.append(("not run", str(manifest["not_run"])))
    for entry in failed[:_SHOWN_FAILURES]:
        where = ", ".join(f"{k} {v[0]:,}-{v[1] - 1:,}" for k, v in entry.items()
                          if k in ("rows", "items") and isinstance(v, list))  # fmt: skip
        rows.append((
            f"partition {entry['partition']:,}",
            f"{where + '; ' if where else ''}{entry['attempts']} attempt(s): "
            f"{entry.get('last_error') or 'no error kept'}",
        ))  # fmt: skip
    if len(failed) > _SHOWN_FAILURES:
        rows.append(("", f"... {len(failed) - _SHOWN_FAILURES:,} more in the manifest"))
    rows.append(("rows rejected", f"{manifest.get('rows_rejected', 0):,}"))
    for entry in manifest.get("rejected", [])[:_SHOWN_FAILURES]:
        rows.append((f"row {entry.get('row', entry.get('item'))}", str(entry.get("reason"))))
    return _figures(f"manifest of {manifest.get('swarm_id')}", tuple(rows), width)


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
        ("rows rejected", f"{result.get('rows_rejected', 0):,}"),
        *((("manifest", str(result["manifest_uri"])),) if result.get("manifest_uri") else ()),
        *(
            (("manifest error", str(result["manifest_error"])),)
            if result.get("manifest_error")
            else ()
        ),
        *(
            (
                (
                    "unfinished",
                    f"{result['unfinished']} (orchestration swarm redrive {result['swarm_id']})",
                ),
            )
            if result.get("unfinished")
            else ()
        ),
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
