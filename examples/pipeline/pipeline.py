"""The supplier-emissions pipeline: intake → calculate (map-reduce) → validate → report.

``emissions_pipeline()`` is the ``PipelineConfig``:

1. ``intake`` (SEQUENTIAL): the intake agent turns ``{"partitions": n,
   "suppliers_per_partition": m}`` into the supplier records;
2. ``calculate`` (MAP_REDUCE over ``suppliers``): three calculators each get a contiguous
   chunk and return its emissions as a decimal string; the ``sum`` reducer adds them exactly
   and the built-in ``round`` transform states the total to the cent;
3. ``validate`` (CONDITIONAL): totals above ``threshold_kg`` go to the validator's ``flag``
   branch, the others to ``accept`` (the default branch);
4. ``report`` (SEQUENTIAL): the reporter's summary, the pipeline's output.

``python examples/pipeline/pipeline.py`` runs it once on the stack at ``ORCH_TEMPORAL_ADDRESS``
(start one with ``orchestration up``), the agents in this process, and prints every stage's
status, the report, and the sequential calculation it must equal to the cent.
``examples/inputs/pipeline_emissions.json`` is the same pipeline as a ``PipelineWorkflow``
input, for ``temporal workflow start --type PipelineWorkflow --input-file ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.pipeline.agents import AGENTS, PipelineAgents
from examples.swarm.suppliers import sequential_total
from orchestration import Pipeline, get_settings
from orchestration.core.retry import RetrySpec
from orchestration.core.temporal_client import connect
from orchestration.exceptions import OrchestrationError
from workflows.pipeline_models import (
    AgentRef,
    ErrorHandling,
    ExecutionMode,
    PipelineConfig,
    PipelineExecution,
    PipelineStage,
    TransformRef,
)

__all__ = ["DEFAULT_INPUT", "THRESHOLD_KG", "emissions_pipeline", "main"]

THRESHOLD_KG = 1_000_000
"""Totals above this many kg CO2e are flagged for review."""
DEFAULT_INPUT: dict[str, Any] = {"partitions": 10, "suppliers_per_partition": 50}


def emissions_pipeline(
    agents: PipelineAgents | None = None,
    *,
    threshold_kg: int = THRESHOLD_KG,
    name: str = "supplier_emissions",
) -> PipelineConfig:
    """The pipeline over ``agents`` (default: the module-level agents, prefix ``pipeline``)."""
    agents = agents or AGENTS
    retry = RetrySpec(maximum_attempts=3, initial_interval_ms=200, maximum_interval_ms=2_000)
    return PipelineConfig(
        name=name,
        error_handling=ErrorHandling.FAIL_FAST,
        global_timeout_ms=300_000,
        stages=[
            PipelineStage(
                name="intake",
                agents=[AgentRef(agent_id=agents.intake.agent_id, action="collect")],
                retry_policy=retry,
            ),
            PipelineStage(
                name="calculate",
                mode=ExecutionMode.MAP_REDUCE,
                agents=[
                    AgentRef(agent_id=a.agent_id, action="calculate") for a in agents.calculators
                ],
                map_field="suppliers",
                reducer="sum",
                transform=TransformRef(name="round", params={"digits": 2}),
                retry_policy=retry,
            ),
            PipelineStage(
                name="validate",
                mode=ExecutionMode.CONDITIONAL,
                agents=[
                    AgentRef(
                        agent_id=agents.validator.agent_id,
                        action="flag",
                        condition=f"float(input) > {threshold_kg}",
                    ),
                    AgentRef(agent_id=agents.validator.agent_id, action="accept"),
                ],
                retry_policy=retry,
            ),
            PipelineStage(
                name="report",
                agents=[AgentRef(agent_id=agents.reporter.agent_id, action="report")],
                retry_policy=retry,
            ),
        ],
    )


def print_execution(execution: PipelineExecution) -> None:
    print(f"pipeline {execution.name} ({execution.execution_id}): {execution.status.value}")
    for stage in execution.stages:
        took = f"{stage.duration_ms:.0f} ms" if stage.duration_ms is not None else "-"
        note = stage.error or stage.reason or ""
        print(f"  {stage.name:<10} {stage.status.value:<10} {took:>8}  {stage.calls} calls  {note}")
    print(f"output: {execution.output}")


async def run(request: dict[str, Any], threshold_kg: int) -> PipelineExecution:
    settings = get_settings()
    client = await connect(settings)
    agents = AGENTS
    stop = asyncio.Event()
    runs = [asyncio.create_task(a.run(client=client, stop=stop)) for a in agents.all]
    try:
        pipeline = Pipeline(
            emissions_pipeline(agents, threshold_kg=threshold_kg), settings=settings, client=client
        )
        return await pipeline.execute(
            request, execution_id=f"supplier-emissions-{uuid.uuid4().hex[:8]}"
        )
    finally:
        stop.set()
        await asyncio.gather(*runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--partitions", type=int, default=DEFAULT_INPUT["partitions"])
    parser.add_argument(
        "--suppliers-per-partition", type=int, default=DEFAULT_INPUT["suppliers_per_partition"]
    )
    parser.add_argument("--threshold-kg", type=int, default=THRESHOLD_KG)
    args = parser.parse_args()
    request = {
        "partitions": args.partitions,
        "suppliers_per_partition": args.suppliers_per_partition,
    }
    try:
        execution = asyncio.run(run(request, args.threshold_kg))
    except OrchestrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_execution(execution)
    expected = sequential_total(args.partitions, args.suppliers_per_partition)
    if execution.output is not None:
        same = "equal" if execution.output["total_kg"] == format(expected, "f") else "DIFFERENT"
        print(f"sequential calculation: {expected} kg ({same})")
    return 0 if execution.status == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
