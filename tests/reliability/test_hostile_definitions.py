"""Saga and pipeline definitions generated at random: valid ones run, invalid ones are refused
before anything runs, naming what is wrong.

The oracle below is written independently of the models' validators: a saga is valid when its
step names are unique, every dependency names another step, the graph has no cycle, and every
timeout is within bounds (100 ms to a week: below 100 ms no agent call can answer in time).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from orchestration import Agent, AgentDescriptor
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import ValidationError
from orchestration.core.retry import MAX_TIMEOUT_MS
from orchestration.core.settings import Settings
from tests.reliability.figures import Figures, figures
from tests.reliability.scale import scaled
from workers.orchestration_worker import build_worker
from workflows.pipeline_models import ExecutionMode, PipelineConfig
from workflows.saga_models import SagaTransaction

NAMES = ["a", "b", "c", "d", "e", "f", "g"]
FLOOR_MS = 100
TIMEOUTS = [None, -5, 0, 1, 99, FLOOR_MS, 1_000, MAX_TIMEOUT_MS, MAX_TIMEOUT_MS + 1, 10**18]


@st.composite
def saga_documents(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=6))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=count, max_size=count))
    steps = []
    for name in names:
        steps.append(
            {
                "name": name,
                "agent_id": "agent-any",
                "action": "act",
                "compensation": draw(st.sampled_from([None, "undo"])),
                "depends_on": draw(st.lists(st.sampled_from([*NAMES, "ghost"]), max_size=3,
                                            unique=True)),
                "timeout_ms": draw(st.sampled_from(TIMEOUTS)),
            }
        )  # fmt: skip
    return {"name": "generated", "steps": steps}


def is_valid(document: dict[str, Any]) -> bool:
    steps = document["steps"]
    names = [s["name"] for s in steps]
    if len(set(names)) != len(names):
        return False
    for step in steps:
        timeout = step["timeout_ms"]
        if timeout is not None and not FLOOR_MS <= timeout <= MAX_TIMEOUT_MS:
            return False
        if any(dep not in names or dep == step["name"] for dep in step["depends_on"]):
            return False
    remaining = {s["name"]: set(s["depends_on"]) for s in steps}
    while remaining:  # peel off steps whose dependencies are all done: a cycle is left over
        ready = [name for name, deps in remaining.items() if not deps & remaining.keys()]
        if not ready:
            return False
        for name in ready:
            del remaining[name]
    return True


@settings(max_examples=scaled(400), suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(saga_documents())
def test_a_saga_definition_is_accepted_exactly_when_it_is_valid(
    pytestconfig: pytest.Config, document: dict[str, Any]
) -> None:
    valid = is_valid(document)
    figures(pytestconfig).record(
        "generated saga definitions", trials=1, faults=int(not valid),
        note="invalid ones are the faults; each refused",
    )  # fmt: skip
    if valid:
        SagaTransaction.model_validate(document)
        return
    with pytest.raises(pydantic.ValidationError) as refused:
        SagaTransaction.model_validate(document)
    text = str(refused.value)
    assert any(word in text for word in ("steps", "timeout_ms", "depends", "cycle", "unique"))


@st.composite
def pipeline_documents(draw: st.DrawFn) -> dict[str, Any]:
    stages = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        mode = draw(st.sampled_from(list(ExecutionMode)))
        agents = draw(st.integers(min_value=0, max_value=2))
        stages.append(
            {
                "name": draw(st.sampled_from(NAMES)),
                "mode": mode.value,
                "agents": [{"agent_id": f"agent-{n}", "action": "act"} for n in range(agents)],
                "timeout_ms": draw(st.sampled_from([t for t in TIMEOUTS if t is not None])),
            }
        )
    return {"name": "generated", "stages": stages}


@settings(max_examples=scaled(300), deadline=None)
@given(pipeline_documents())
def test_a_pipeline_is_refused_for_repeated_names_bad_timeouts_or_no_agents(
    pytestconfig: pytest.Config, document: dict[str, Any]
) -> None:
    stages = document["stages"]
    names = [s["name"] for s in stages]
    obviously_bad = (
        len(set(names)) != len(names)
        or any(not FLOOR_MS <= s["timeout_ms"] <= MAX_TIMEOUT_MS for s in stages)
        or any(not s["agents"] for s in stages)  # no transform given either
    )
    figures(pytestconfig).record(
        "generated pipeline definitions", trials=1, faults=int(obviously_bad),
        note="invalid ones are the faults",
    )  # fmt: skip
    try:
        PipelineConfig.model_validate(document)
    except pydantic.ValidationError as exc:
        assert exc.error_count() >= 1 and str(exc)  # refused, with a reason
        return
    assert not obviously_bad, f"accepted an invalid pipeline: {document}"


echo = Agent(AgentDescriptor(agent_id="agent-any", agent_type="Echo"))


@echo.action("act")
async def act(data: Any, ctx: Any) -> dict[str, str]:
    return {"step": ctx.caller}


@echo.action("undo")
async def undo(data: Any, ctx: Any) -> dict[str, str]:
    return {}


@pytest.mark.slow
async def test_generated_valid_sagas_run_to_completion_in_dependency_order(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str, reliability_figures: Figures
) -> None:
    client = temporal_time_skipping_env.client
    worker_settings = Settings(task_queue=f"hostile-{unique}")
    documents = []

    @settings(max_examples=scaled(500), deadline=None, database=None)
    @given(saga_documents())
    def collect(document: dict[str, Any]) -> None:
        if is_valid(document) and len(documents) < scaled(12):
            documents.append(document)

    collect()
    assert len(documents) >= 5, "too few valid sagas generated"
    orchestrator = SagaOrchestrator(client=client, settings=worker_settings)
    completed = 0
    async with build_worker(client, worker_settings), echo.worker(client):
        for n, document in enumerate(documents):
            transaction = SagaTransaction.model_validate(
                {**document, "transaction_id": f"hostile-{unique}-{n}"}
            )
            await asyncio.wait_for(orchestrator.execute(transaction, {}), 60)
            execution = await orchestrator.get_execution_status(transaction.transaction_id)
            assert execution.state == "COMPLETED"
            order = execution.completed_steps
            assert sorted(order) == sorted(s.name for s in transaction.steps)
            for step in transaction.steps:
                for dependency in step.depends_on:
                    assert order.index(dependency) < order.index(step.name)
            completed += 1
    reliability_figures.record("generated valid sagas, run", trials=completed, faults=0,
                               lost=len(documents) - completed)  # fmt: skip


async def test_an_invalid_saga_is_refused_before_anything_starts(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str
) -> None:
    client = temporal_time_skipping_env.client
    transaction = SagaTransaction.model_validate(
        {"name": "x", "transaction_id": f"refused-{unique}",
         "steps": [{"name": "a", "agent_id": "agent-any", "action": "act"}]}
    )  # fmt: skip
    transaction.steps.append(transaction.steps[0])  # mutated after validation: a repeated name
    orchestrator = SagaOrchestrator(client=client, settings=Settings(task_queue=f"r-{unique}"))
    with pytest.raises(ValidationError, match="unique"):
        await orchestrator.start(transaction)
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(f"refused-{unique}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
