"""What the Temporal Web UI shows at the top of a saga, swarm or pipeline: a one-line
summary and Markdown details of its definition (``static_summary`` / ``static_details``).

What it is *doing* is in the search attributes (``OrchestrationState``), the current details
the workflow updates, and the summaries of its activities.
"""

from __future__ import annotations

from workflows.pipeline_models import PipelineConfig
from workflows.saga_models import SagaTransaction
from workflows.swarm_files import DatasetSource
from workflows.swarm_models import SwarmTask

__all__ = ["pipeline_summary", "saga_summary", "swarm_summary"]

_MAX_ROWS = 50  # a definition can have hundreds of steps; the UI needs the shape, not all


def _rows(lines: list[str]) -> list[str]:
    if len(lines) <= _MAX_ROWS:
        return lines
    return [*lines[:_MAX_ROWS], f"| ... | {len(lines) - _MAX_ROWS} more | | |"]


def saga_summary(transaction: SagaTransaction) -> tuple[str, str]:
    """(summary, details) of a saga: its name, strategy and step table."""
    steps = transaction.steps
    summary = (
        f"saga {transaction.name}: {len(steps)} steps, "
        f"{transaction.compensation_strategy.name} compensation"
    )
    lines = [
        f"| {s.name}{' (pivot)' if s.is_pivot else ''} | {s.target} "
        f"| {s.compensation or '-'} | {', '.join(s.depends_on) or '-'} |"
        for s in steps
    ]
    details = "\n".join(
        [
            f"**{transaction.name}** (`{transaction.transaction_id}`)",
            "",
            "| step | agent.action | compensation | depends on |",
            "|---|---|---|---|",
            *_rows(lines),
        ]
    )
    return summary, details


def swarm_summary(task: SwarmTask) -> tuple[str, str]:
    """(summary, details) of a swarm: objective, size, behaviour and convergence target."""
    size = (
        f"{task.data_partitions:,} partitions"
        if task.data_partitions is not None
        else f"partitions of {task.source.uri.rsplit('/', 1)[-1]}"  # a dataset's
        if isinstance(task.source, DatasetSource)
        else "partitions"
    )
    summary = f"swarm {task.behavior.name}: {size} over {task.agents_required} agents"
    if task.redrive is not None:
        summary += f", redrive of {task.redrive.of}"
    agents = ", ".join(task.agents[:20]) + (" ..." if len(task.agents) > 20 else "")
    details = "\n".join(
        [
            f"**{task.objective}**",
            "",
            f"- action: `{task.action}`, reducer: `{task.reducer}`",
            f"- convergence threshold: {task.convergence_threshold:.0%}, "
            f"timeout {task.timeout_ms:,} ms",
            f"- agents: {agents or ', '.join(task.capabilities) or '-'}",
            *(
                [f"- dataset: `{task.source.uri}`"]
                if isinstance(task.source, DatasetSource)
                else []
            ),
            *([f"- manifest under `{task.result_writer.uri}`"] if task.result_writer else []),
        ]
    )
    return summary, details


def pipeline_summary(config: PipelineConfig) -> tuple[str, str]:
    """(summary, details) of a pipeline: its stages in order with their modes."""
    summary = f"pipeline {config.name}: {len(config.stages)} stages, {config.error_handling.name}"
    lines = [
        f"| {stage.name} | {stage.mode.name} | {', '.join(a.key for a in stage.agents) or '-'} |"
        for stage in config.stages
    ]
    details = "\n".join(
        [f"**{config.name}**", "", "| stage | mode | agents |", "|---|---|---|", *_rows(lines)]
    )
    return summary, details
