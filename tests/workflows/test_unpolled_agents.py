"""A call for an agent nobody runs (a misspelt id, a stopped agent) fails within a bound,
naming the task queue and the agent, instead of waiting for the whole run's timeout (a
pipeline under FAIL_FAST then parks for an operator)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.transforms import run_transform
from orchestration.clients.pipeline import Pipeline
from orchestration.core.exceptions import SagaError
from orchestration.core.settings import SagaConfig, Settings
from tests.workflows.saga_support import DEADLINE_S, SagaAgent, saga_worker
from workers.orchestration_worker import build_worker
from workflows.agent_task import AGENT_UNAVAILABLE, AgentTaskWorkflow
from workflows.models import AgentTaskInput
from workflows.pipeline import PipelineWorkflow
from workflows.pipeline_models import (
    AgentRef,
    PipelineConfig,
    PipelineStage,
    PipelineStatus,
)
from workflows.saga_models import SagaStep, SagaTransaction

QUICK = 1_000
"""A pick-up bound the time-skipping server passes at once."""


async def test_a_saga_step_for_an_agent_nobody_runs_fails_and_the_saga_compensates(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str
) -> None:
    client = temporal_time_skipping_env.client
    agent = SagaAgent(f"agent-{unique}", ["collect"])
    saga = SagaTransaction(
        name="misspelt",
        steps=[
            agent.step("collect"),
            SagaStep("validate", f"agent-validatr-{unique}", "validate", depends_on=["collect"]),
        ],
    )
    config = SagaConfig(step_start_timeout_ms=QUICK)
    async with saga_worker(client, unique, agent, config=config) as orchestrator:
        with pytest.raises(SagaError) as failed:
            await asyncio.wait_for(orchestrator.execute(saga), DEADLINE_S)
    execution = failed.value.execution
    assert execution.state == "COMPENSATED"
    assert execution.compensated_steps == ["collect"]
    error = execution.steps["validate"].error
    assert error.startswith(
        f"no worker polls task queue agent-validatr-{unique} (agent agent-validatr-{unique})"
    ), error


async def test_an_agent_task_nobody_picks_up_fails_naming_the_agent(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str
) -> None:
    client = temporal_time_skipping_env.client
    settings = Settings(task_queue=f"orch-{unique}")
    task = AgentTaskInput(agent_id=f"ghost-{unique}", action="greet", start_timeout_ms=QUICK)
    async with build_worker(client, settings):
        handle = await client.start_workflow(
            AgentTaskWorkflow.run, task, id=f"task-{unique}", task_queue=settings.task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), DEADLINE_S)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == AGENT_UNAVAILABLE and cause.non_retryable
    assert cause.message.startswith(
        f"no worker polls task queue ghost-{unique} (agent ghost-{unique})"
    )


async def test_a_pipeline_stage_for_an_agent_nobody_runs_parks_naming_it(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str
) -> None:
    client = temporal_time_skipping_env.client
    settings = Settings(task_queue=f"orch-{unique}")
    ghost = f"ghost-{unique}"
    stage = PipelineStage(name="only", agents=[AgentRef(agent_id=ghost, action="x")])
    config = PipelineConfig(name="unpolled", stages=[stage], stage_start_timeout_ms=QUICK)
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[PipelineWorkflow],
        activities=[run_transform],
    ):
        pipeline = Pipeline(config, settings=settings, client=client)
        execution = await asyncio.wait_for(pipeline.execute(None), DEADLINE_S)
        # parked (FAIL_FAST): an operator may start the agent and retry, or skip it
        run = execution.execution_id
        await pipeline.resolve(run, "only", "skip", by="ops", reason="agent retired")
        skipped = await asyncio.wait_for(pipeline.execute(None, execution_id=run), DEADLINE_S)
    assert execution.status is PipelineStatus.NEEDS_INTERVENTION
    result = execution.stages[0]
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(f"no worker polls task queue {ghost} (agent {ghost})")
    [incident] = execution.incidents
    assert incident.step == "only"
    assert skipped.status is PipelineStatus.COMPLETED_WITH_ERRORS


async def test_starting_a_saga_from_python_warns_about_an_agent_nobody_runs(
    temporal_dev_env: WorkflowEnvironment, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = temporal_dev_env.client
    agent = SagaAgent(f"agent-{unique}", ["collect"])
    ghost = f"agent-validatr-{unique}"
    saga = SagaTransaction(
        name="warned",
        steps=[
            agent.step("collect"),
            SagaStep("validate", ghost, "validate", depends_on=["collect"]),
        ],
    )
    async with saga_worker(
        client, unique, agent, config=SagaConfig(step_start_timeout_ms=QUICK)
    ) as sagas:
        with caplog.at_level(logging.WARNING, logger="orchestration.clients.workflow_client"):
            handle = await sagas.start(saga)
        with pytest.raises(WorkflowFailureError):  # the step fails once its bound passed
            await asyncio.wait_for(handle.result(), DEADLINE_S)
    warned = [r.getMessage() for r in caplog.records if "no worker polls" in r.getMessage()]
    assert warned == [
        f"saga {saga.transaction_id}: no worker polls task queue {ghost} (agent {ghost}, "
        "steps.1.agent_id); its call waits for one, then fails"
    ]
