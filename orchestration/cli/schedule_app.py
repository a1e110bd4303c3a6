"""``orchestration schedule create | list | describe | pause | unpause | trigger | backfill |
delete``: sagas and pipelines on Temporal Schedules."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestration.cli.common import (
    EXIT_CONFIG,
    Column,
    fail,
    fitted_table,
    load_settings,
    out,
    read_json_file,
    run_async,
)
from orchestration.core.exceptions import OrchestrationError

__all__ = ["parse_every", "schedule_app", "schedules_table"]

schedule_app = typer.Typer(
    help="Schedules: sagas and pipelines that run on a cron expression or an interval.",
    no_args_is_help=True,
)

ScheduleId = Annotated[str, typer.Argument(help="The schedule's id.")]
_EVERY = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_every(text: str) -> int:
    """``90s``, ``15m``, ``1h``, ``7d`` (or ``500ms``) in milliseconds.

    Raises:
        ValueError: anything else, saying what is expected.
    """
    match = _EVERY.match(text.strip())
    if match is None:
        raise ValueError(f"--every {text!r}: a number and a unit, as 90s, 15m, 1h or 7d")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


@schedule_app.command("create")
def schedule_create(
    file: Annotated[
        Path,
        typer.Argument(
            help="A saga ({transaction, initial_data}) or a pipeline ({config, input})."
        ),
    ],
    schedule_id: Annotated[str, typer.Option("--id", help="The schedule's id.")],
    cron: Annotated[
        str | None, typer.Option(help="A cron expression in UTC, e.g. '0 6 1 * *'.")
    ] = None,
    every: Annotated[str | None, typer.Option(help="An interval: 90s, 15m, 1h, 7d.")] = None,
    overlap: Annotated[
        str, typer.Option(help="A run due while the last runs: skip, buffer_one or allow_all.")
    ] = "skip",
) -> None:
    """Schedule the saga or pipeline of FILE; every run's id carries its scheduled time."""
    settings = load_settings()
    try:
        interval_ms = parse_every(every) if every is not None else None
        document = read_json_file(file)
    except (ValueError, OrchestrationError) as exc:
        fail(str(exc), EXIT_CONFIG)
    is_pipeline = isinstance(document, dict) and "config" in document

    async def create() -> Any:
        if is_pipeline:
            from orchestration.clients.pipeline import Pipeline
            from workflows.pipeline_models import PipelineConfig

            config = _validated(PipelineConfig, document["config"], f"pipeline in {file}")
            return await Pipeline(config, settings=settings).schedule(
                document.get("input"), schedule_id=schedule_id, cron=cron,
                interval_ms=interval_ms, overlap=overlap,  # type: ignore[arg-type]
            )  # fmt: skip
        from orchestration.cli.saga import load_saga
        from orchestration.clients.saga import SagaOrchestrator

        transaction, initial_data = load_saga(file)
        return await SagaOrchestrator(settings=settings).schedule(
            transaction, initial_data, schedule_id=schedule_id, cron=cron,
            interval_ms=interval_ms, overlap=overlap,  # type: ignore[arg-type]
        )  # fmt: skip

    view = run_async(create)
    out.print(f"schedule {view.schedule_id}: {view.workflow_type}, {view.spec}")
    if view.next_runs:
        out.print(f"next run: {view.next_runs[0]}")


def _validated(model: Any, raw: Any, what: str) -> Any:
    import pydantic

    from orchestration.core.validation import validation_error

    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        fail(str(validation_error(what, exc, "config")), EXIT_CONFIG)


def _schedules(settings: Any) -> Any:
    from orchestration.clients.schedules import Schedules

    return Schedules(settings=settings)


@schedule_app.command("list")
def schedule_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The schedules of sagas and pipelines."""
    settings = load_settings()
    views = run_async(lambda: _schedules(settings).list())
    if as_json:
        out.print_json(data=[v.model_dump() for v in views])
    else:
        out.print(schedules_table(views, width=out.width))


@schedule_app.command("describe")
def schedule_describe(
    schedule_id: ScheduleId,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A schedule: what it runs, when, whether it is paused, its next and recent runs."""
    settings = load_settings()
    view = run_async(lambda: _schedules(settings).describe(schedule_id))
    if as_json:
        out.print_json(view.model_dump_json())
        return
    out.print(schedules_table([view], width=out.width))
    for run in view.recent_runs:
        out.print(f"ran: {run['workflow_id']} (scheduled {run['scheduled_at']})")
    for moment in view.next_runs[:3]:
        out.print(f"next: {moment}")


@schedule_app.command("pause")
def schedule_pause(
    schedule_id: ScheduleId,
    note: Annotated[str | None, typer.Option(help="Why (shown by describe).")] = None,
) -> None:
    """Pause a schedule: no run starts until it is unpaused."""
    settings = load_settings()
    run_async(lambda: _schedules(settings).pause(schedule_id, note))
    out.print(f"paused: schedule {schedule_id}")


@schedule_app.command("unpause")
def schedule_unpause(
    schedule_id: ScheduleId,
    note: Annotated[str | None, typer.Option(help="Why (shown by describe).")] = None,
) -> None:
    """Unpause a schedule."""
    settings = load_settings()
    run_async(lambda: _schedules(settings).unpause(schedule_id, note))
    out.print(f"unpaused: schedule {schedule_id}")


@schedule_app.command("trigger")
def schedule_trigger(schedule_id: ScheduleId) -> None:
    """Start a run now (the overlap policy applies)."""
    settings = load_settings()
    run_async(lambda: _schedules(settings).trigger(schedule_id))
    out.print(f"triggered: schedule {schedule_id} (see: orchestration schedule describe "
              f"{schedule_id})")  # fmt: skip


@schedule_app.command("backfill")
def schedule_backfill(
    schedule_id: ScheduleId,
    start: Annotated[
        str, typer.Option(help="From (ISO 8601 with a zone, e.g. 2026-01-01T00:00Z).")
    ],
    end: Annotated[str, typer.Option(help="To (ISO 8601 with a zone).")],
) -> None:
    """Start the runs the schedule would have started between --start and --end."""
    settings = load_settings()
    try:
        begin, finish = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in (start, end))
    except ValueError as exc:
        fail(f"--start/--end: {exc} (ISO 8601, e.g. 2026-01-01T00:00Z)", EXIT_CONFIG)
    run_async(lambda: _schedules(settings).backfill(schedule_id, begin, finish))
    out.print(
        f"backfilled: schedule {schedule_id} from {begin.isoformat()} to {finish.isoformat()}"
    )


@schedule_app.command("delete")
def schedule_delete(schedule_id: ScheduleId) -> None:
    """Delete a schedule (the runs it started go on)."""
    settings = load_settings()
    run_async(lambda: _schedules(settings).delete(schedule_id))
    out.print(f"deleted: schedule {schedule_id}")


def schedules_table(views: list[Any], *, width: int = 80) -> Any:
    """One row per schedule: id, what it runs, when, overlap, paused, next run."""
    columns = [
        Column("schedule", [v.schedule_id for v in views]),
        Column(
            "runs", [v.workflow_type.removesuffix("Workflow").lower() for v in views], wraps=False
        ),
        Column("when", [v.spec for v in views]),
        Column("overlap", [v.overlap for v in views], wraps=False, drop=2),
        Column("paused", ["yes" if v.paused else "no" for v in views], wraps=False),
        Column("next run (UTC)", [_shown(v.next_runs) for v in views], wraps=False, drop=1),
    ]
    return fitted_table(f"{len(views)} schedule(s)", columns, width)


def _shown(moments: list[str]) -> str:
    if not moments:
        return ""
    return datetime.fromisoformat(moments[0]).strftime("%Y-%m-%d %H:%M")
