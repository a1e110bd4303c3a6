"""Saga steps and agent tasks that find their agent by capability: the registry and the
router choose it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client

from orchestration.clients.pipeline import Pipeline
from orchestration.core.exceptions import SagaError
from orchestration.core.routing import RoutingStrategy
from orchestration.core.settings import RouteConfig
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor
from tests.workflows.pipeline_support import StepAgent, config, running, stage
from tests.workflows.saga_support import FAST_RETRY, SagaAgent, saga_worker
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput, AgentTaskResult
from workflows.pipeline_models import AgentRef, ExecutionMode, PipelineStatus
from workflows.saga_models import SagaState, SagaStep, SagaTransaction

CAPABILITY = "carbon_calculation"
QUICK = RouteConfig(start_timeout_ms=1000, wait_ms=60_000)
"""An agent that does not pick the call up within a second is passed over."""


async def register(
    registry: LocalAgentRegistry,
    agent: SagaAgent | str,
    *,
    version: str = "2.1.0",
    location: str = "eu-west-1",
    sick: bool = False,
) -> None:
    """Register ``agent`` as a calculator; ``sick`` ones report failing everything."""
    agent_id = agent if isinstance(agent, str) else agent.agent_id
    descriptor = AgentDescriptor(
        agent_id=agent_id,
        agent_type="Calculator",
        version=version,
        capabilities=[CAPABILITY],
        metadata={"location": location},
    )
    await registry.register(descriptor)
    if sick:
        await registry.heartbeat(agent_id, {"error_rate": 1.0, "cpu_usage": 1.0})


def routed(name: str = "x", *depends_on: str, **options: Any) -> SagaStep:
    """A step of action ``do-<name>`` (undone by ``undo-<name>``) routed by capability."""
    options.setdefault("compensation", f"undo-{name}")
    return SagaStep(
        name,
        capability=CAPABILITY,
        action=f"do-{name}",
        depends_on=list(depends_on),
        retry_policy=options.pop("retry_policy", FAST_RETRY),
        **options,
    )


def calculators(unique: str, *names: str) -> list[SagaAgent]:
    return [SagaAgent(f"calc-{name}-{unique}", ["x"]) for name in names]


async def test_a_capability_step_goes_to_a_healthy_agent_of_the_right_version_and_location(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    good, old, sick, far = calculators(unique, "good", "old", "sick", "far")
    registry = sqlite_registry
    await register(registry, good)
    await register(registry, old, version="1.9.0")
    await register(registry, sick, sick=True)
    await register(registry, far, location="us-east-1")
    step = routed(version=">=2,<3", location="eu-west-1")
    async with saga_worker(
        temporal_client, unique, good, old, sick, far, registry=registry, route=QUICK
    ) as sagas:
        outcomes = [await sagas.execute(SagaTransaction(steps=[step])) for _ in range(4)]
        sagas_run = list(sagas.started)
        statuses = [await sagas.get_execution_status(tx) for tx in sagas_run]
    assert len(outcomes) == 4
    assert len(good.calls) == 4
    assert old.calls == sick.calls == far.calls == []
    assert {status.steps["x"].agent_id for status in statuses} == {good.agent_id}


async def test_the_wanted_location_is_a_preference_and_the_routing_key_keeps_one_agent(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    agents = calculators(unique, "a", "b", "c")
    registry = sqlite_registry
    for agent in agents:
        await register(registry, agent, location="us-east-1")
    async with saga_worker(
        temporal_client, unique, *agents, registry=registry, route=QUICK
    ) as sagas:
        keyed = routed(
            location="eu-west-1",  # nobody is there: the others are used
            strategy=RoutingStrategy.CONSISTENT_HASH,
            routing_key="acme-steel",
        )
        for _ in range(5):
            await sagas.execute(SagaTransaction(steps=[keyed]))
    used = [agent for agent in agents if agent.calls]
    assert len(used) == 1 and len(used[0].calls) == 5  # the same company, the same agent


async def test_a_call_its_agent_never_starts_is_routed_to_another_with_the_same_key(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    (alive,) = calculators(unique, "alive")
    gone = f"calc-gone-{unique}"  # registered, healthy, preferred, and not running
    registry = sqlite_registry
    await register(registry, gone, location="eu-west-1")
    await register(registry, alive, location="us-east-1")
    async with saga_worker(temporal_client, unique, alive, registry=registry, route=QUICK) as sagas:
        outputs = await sagas.execute(SagaTransaction(steps=[routed(location="eu-west-1")]))
        [tx] = sagas.started
        status = await sagas.get_execution_status(tx)
    assert "x" in outputs
    assert [call.action for call in alive.calls] == ["do-x"]  # the effect, once
    assert alive.calls[0].ctx.idempotency_key == f"{tx}/x"
    assert status.steps["x"].agent_id == alive.agent_id


async def test_an_agent_failing_retryably_is_replaced_and_the_retry_keeps_its_key(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    flaky, steady = calculators(unique, "flaky", "steady")
    flaky.failures["x"] = 10  # fails every attempt, retryably
    registry = sqlite_registry
    await register(registry, flaky, location="eu-west-1")
    await register(registry, steady, location="us-east-1")
    async with saga_worker(
        temporal_client, unique, flaky, steady, registry=registry, route=QUICK
    ) as sagas:
        step = routed(
            location="eu-west-1",
            retry_policy=FAST_RETRY.model_copy(update={"maximum_attempts": 5}),
        )
        await sagas.execute(SagaTransaction(steps=[step]))
    assert len(flaky.calls) == QUICK.attempts  # then routed again without it
    assert len(steady.calls) == 1
    keys = {call.ctx.idempotency_key for call in [*flaky.calls, *steady.calls]}
    assert len(keys) == 1


async def test_a_routed_step_is_compensated_on_the_agent_that_completed_it(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    first, sibling = calculators(unique, "first", "sibling")
    checker = SagaAgent(f"checker-{unique}", ["check"])
    checker.broken.add("do:check")
    registry = sqlite_registry
    await register(registry, first, location="eu-west-1")
    await register(registry, sibling, location="us-east-1")
    saga = SagaTransaction(
        steps=[routed(location="eu-west-1"), checker.step("check", "x", compensation=None)]
    )
    async with saga_worker(
        temporal_client, unique, first, sibling, checker, registry=registry, route=QUICK
    ) as sagas:
        # once x completed, its agent looks worse than its sibling: the undo stays put
        gate = first.gate("do:x")
        started = asyncio.create_task(sagas.execute(saga))
        await first.reached("do:x")
        await register(registry, first, location="us-east-1", sick=True)
        gate.set()
        with pytest.raises(SagaError) as failed:
            await started
    assert failed.value.execution.state == SagaState.COMPENSATED
    assert first.log == ["do:x", "done:x", "undo:x", "undone:x"]
    assert sibling.log == []


async def test_no_agent_with_the_capability_fails_clearly_and_one_that_registers_is_used(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    (late,) = calculators(unique, "late")
    registry = sqlite_registry
    brief = RouteConfig(start_timeout_ms=1000, wait_ms=1000)
    async with saga_worker(temporal_client, unique, late, registry=registry, route=brief) as s:
        with pytest.raises(SagaError) as nobody:
            await s.execute(SagaTransaction(steps=[routed(version=">=2")]))
    error = nobody.value.execution.steps["x"].error
    assert error is not None and error.startswith(
        f"RoutingError: no agent with capability {CAPABILITY} (version >=2) and health "
        ">= 0.5 is registered"
    ), error

    async with saga_worker(temporal_client, unique, late, registry=registry, route=QUICK) as s:
        handle = await s.start(SagaTransaction(steps=[routed()]))
        failure = await _routing_failed_once(temporal_client, handle.id)
        assert failure.stack_trace == ""  # the message says it all (the Web UI shows it)
        await register(registry, late)
        execution = await asyncio.wait_for(handle.result(), timeout=60)
    assert execution.state == SagaState.COMPLETED and len(late.calls) == 1


async def _routing_failed_once(client: Client, workflow_id: str) -> Failure:
    """Until the routing activity of the saga has failed an attempt (no agent yet)."""
    handle = client.get_workflow_handle(workflow_id)
    async with asyncio.timeout(30):
        while True:
            with contextlib.suppress(Exception):
                pending = (await handle.describe()).raw_description.pending_activities
                if pending and pending[0].last_failure.message.startswith("no agent with"):
                    return pending[0].last_failure
            await asyncio.sleep(0.1)


async def test_an_agent_task_by_capability_is_routed_past_an_agent_nobody_runs(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    (alive,) = calculators(unique, "alive")
    gone = f"calc-gone-{unique}"
    registry = sqlite_registry
    await register(registry, gone, location="eu-west-1")
    await register(registry, alive, location="us-east-1")
    task = AgentTaskInput(capability=CAPABILITY, action="do-x", location="eu-west-1", routing=QUICK)
    async with saga_worker(temporal_client, unique, alive, registry=registry):
        result = await temporal_client.execute_workflow(
            AgentTaskWorkflow.run,
            task,
            id=f"task-{unique}",
            task_queue=f"orch-{unique}",  # the worker of saga_worker
            result_type=AgentTaskResult,
        )
    assert result.agent_id == alive.agent_id
    assert [call.action for call in alive.calls] == ["do-x"]
    assert result.idempotency_key == f"task-{unique}/do-x"


async def test_a_map_reduce_stage_by_capability_spreads_its_chunks_over_the_agents_found(
    temporal_client: Client, unique: str, sqlite_registry: LocalAgentRegistry
) -> None:
    agents = [StepAgent(f"summer-{n}-{unique}") for n in range(3)]
    for agent in agents:
        await register(sqlite_registry, agent.agent_id)
    ref = AgentRef(capability=CAPABILITY, action="sum_items")
    split = stage("split", ref, mode=ExecutionMode.MAP_REDUCE, reducer="sum", chunk_size=2)
    async with running(temporal_client, unique, *agents, registry=sqlite_registry) as settings:
        pipeline = Pipeline(config(split), settings=settings, client=temporal_client)
        execution = await pipeline.execute(list(range(1, 13)))  # 6 chunks of 2
    assert execution.status is PipelineStatus.COMPLETED, execution.errors
    assert execution.output == 78  # 1 + ... + 12
    assert sorted(len(agent.calls) for agent in agents) == [2, 2, 2]  # round robin
