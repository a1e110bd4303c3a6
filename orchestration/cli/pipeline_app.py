"""``orchestration pipeline status | resolve``: pipeline executions by id (start them with
the Python API or ``temporal workflow start --type PipelineWorkflow``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from orchestration.cli.common import Column, fitted_table, load_settings, out, run_async
from workflows.pipeline_models import PipelineExecution, PipelineStatus

__all__ = ["pipeline_app", "stages_table"]

pipeline_app = typer.Typer(
    help="Pipeline executions: their status; resolve a parked one.", no_args_is_help=True
)

ExecutionId = Annotated[str, typer.Argument(help="The pipeline's execution id.")]


@pipeline_app.command("status")
def pipeline_status(
    execution_id: ExecutionId,
    as_json: Annotated[bool, typer.Option("--json", help="Print the execution as JSON.")] = False,
) -> None:
    """A pipeline execution's stages, live or finished; exit 3 while it is parked."""
    settings = load_settings()
    from orchestration.clients.pipeline import PipelineRuns

    async def status() -> PipelineExecution:
        runs = PipelineRuns(settings=settings)
        await runs.initialize()
        return await runs.get_execution_status(execution_id)

    execution = run_async(status)
    if as_json:
        out.print_json(execution.model_dump_json())
    else:
        out.print(stages_table(execution, width=out.width))
    if execution.status is PipelineStatus.NEEDS_INTERVENTION:
        raise typer.Exit(3)
    if execution.status in (PipelineStatus.FAILED, PipelineStatus.TIMED_OUT):
        raise typer.Exit(1)


@pipeline_app.command("resolve")
def pipeline_resolve(
    execution_id: ExecutionId,
    stage: Annotated[str, typer.Argument(help="The parked stage.")],
    by: Annotated[str, typer.Option("--by", help="Who decides (recorded with your identity).")],
    reason: Annotated[str, typer.Option(help="Why (required; kept with it).")],
    retry: Annotated[bool, typer.Option("--retry", help="Run the stage again.")] = False,
    skip: Annotated[bool, typer.Option("--skip", help="Go on without it.")] = False,
    data_file: Annotated[
        Path | None,
        typer.Option(help="JSON: the retried stage's input, or the skipped stage's output."),
    ] = None,
) -> None:
    """Continue a pipeline parked in NEEDS_INTERVENTION: --retry or --skip its stage."""
    settings = load_settings()
    from orchestration.cli.resolutions import chosen_action, resolution_data
    from orchestration.clients.pipeline import PipelineRuns
    from workflows.operations_models import ResolveAction

    action = chosen_action({ResolveAction.RETRY: retry, ResolveAction.SKIP: skip})
    data = resolution_data(data_file)

    async def resolve() -> Any:
        runs = PipelineRuns(settings=settings)
        await runs.initialize()
        return await runs.resolve(execution_id, stage, action, by=by, reason=reason, data=data)

    run_async(resolve)
    out.print(f"resolved: stage {stage} of pipeline {execution_id}: {action.value}, by {by}")


def stages_table(execution: PipelineExecution, *, width: int = 80) -> Any:
    """One row per stage (status, calls, time), then what is parked and how to resolve it."""
    from rich.console import Group
    from rich.text import Text

    stages = execution.stages
    columns = [
        Column("stage", [s.name for s in stages]),
        Column("status", [s.status.value for s in stages], wraps=False),
        Column("calls", [str(s.calls) for s in stages], wraps=False, right=True, drop=2),
        Column(
            "ms",
            [f"{s.duration_ms:,.0f}" if s.duration_ms is not None else "" for s in stages],
            wraps=False,
            right=True,
            drop=1,
        ),
    ]
    title = f"pipeline {execution.execution_id} ({execution.name}): {execution.status.value}"
    parts: list[Any] = [fitted_table(title, columns, width)]
    for stage in stages:
        if stage.error:
            parts.append(Text(f"  {stage.name}: {stage.error}"))
    for incident in execution.incidents:
        parts += [
            Text(f"needs intervention: stage {incident.step} failed"),
            Text(
                f"  orchestration pipeline resolve {execution.execution_id} {incident.step} "
                "--retry --by NAME --reason TEXT"
            ),
            Text("  (or --skip instead of --retry)"),
        ]
    return Group(*parts)
