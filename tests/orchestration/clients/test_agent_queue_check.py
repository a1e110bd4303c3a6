"""An agent whose task queue is the orchestration worker's own is refused before anything runs:
the worker would take its calls and fail them as "not registered"."""

from __future__ import annotations

import pytest

from orchestration.clients.pipeline import Pipeline
from orchestration.clients.saga import SagaOrchestrator
from orchestration.clients.swarm import SwarmOrchestrator
from orchestration.core.exceptions import ValidationError
from orchestration.core.settings import Settings, SwarmConfig
from workflows.pipeline_models import AgentRef, PipelineConfig, PipelineStage
from workflows.saga_models import SagaStep, SagaTransaction
from workflows.swarm_models import SwarmTask

SETTINGS = Settings(task_queue="orch")


async def test_a_saga_step_on_the_worker_queue_is_refused_naming_the_step() -> None:
    saga = SagaTransaction(
        steps=[
            SagaStep("a", "agent-1", "act"),
            SagaStep("b", "agent-2", "act", endpoint="temporal://orch"),
        ]
    )
    with pytest.raises(ValidationError, match=r"steps\.1\.agent_id") as refused:
        await SagaOrchestrator(settings=SETTINGS).start(saga)  # no client: nothing contacted
    assert [e["field"] for e in refused.value.errors] == ["steps.1.agent_id"]
    assert "ORCH_TASK_QUEUE" in str(refused.value)


async def test_a_swarm_agent_or_pipeline_agent_on_the_worker_queue_is_refused() -> None:
    task = SwarmTask(objective="x", data_partitions=2, agents_required=1, action="calc",
                     agents=["orch"])  # fmt: skip
    with pytest.raises(ValidationError, match=r"agents\.0"):
        await SwarmOrchestrator(settings=SETTINGS, config=SwarmConfig(min_agents=1)).start(task)
    stage = PipelineStage(name="s", agents=[AgentRef(agent_id="orch", action="act")])
    with pytest.raises(ValidationError, match=r"stages\.0\.agents\.0\.agent_id"):
        Pipeline(PipelineConfig(name="p", stages=[stage]), settings=SETTINGS)
