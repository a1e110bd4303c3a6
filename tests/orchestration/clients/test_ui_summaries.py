"""The Web UI summary and details set when a saga, swarm or pipeline starts."""

from __future__ import annotations

from orchestration.clients.ui_summaries import pipeline_summary, saga_summary, swarm_summary
from workflows.pipeline_models import AgentRef, PipelineConfig, PipelineStage
from workflows.saga_models import SagaStep, SagaTransaction
from workflows.swarm_models import SwarmTask


def test_a_saga_summary_names_its_strategy_and_tables_its_steps() -> None:
    saga = SagaTransaction(
        name="csrd",
        steps=[
            SagaStep("collect", "agent-c", "collect", compensation="delete"),
            SagaStep("report", "agent-r", "generate", depends_on=["collect"], is_pivot=True),
        ],
    )
    summary, details = saga_summary(saga)
    assert summary == "saga csrd: 2 steps, BACKWARD compensation"
    assert "| collect | agent-c.collect | delete | - |" in details
    assert "| report (pivot) | agent-r.generate | - | collect |" in details


def test_a_long_definition_is_cut_to_fifty_rows_saying_how_many_more() -> None:
    stages = [
        PipelineStage(name=f"s{n}", agents=[AgentRef(agent_id="a", action="x")]) for n in range(60)
    ]
    summary, details = pipeline_summary(PipelineConfig(name="big", stages=stages))
    assert summary == "pipeline big: 60 stages, FAIL_FAST"
    assert "| s49 | SEQUENTIAL | a.x |" in details and "| s50 |" not in details
    assert "10 more" in details


def test_a_swarm_summary_gives_its_size_and_lists_at_most_twenty_agents() -> None:
    task = SwarmTask(
        objective="Calculate 100k supplier emissions",
        data_partitions=1000,
        agents_required=30,
        action="calculate",
        agents=[f"agent-{n}" for n in range(30)],
    )
    summary, details = swarm_summary(task)
    assert summary == "swarm FORAGING: 1,000 partitions over 30 agents"
    assert "agent-19 ..." in details and "agent-20" not in details
    assert "convergence threshold: 95%" in details
