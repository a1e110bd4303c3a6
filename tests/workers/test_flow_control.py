"""Agents protected from overload: the limits an agent publishes are the ones it runs with."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from orchestration import ActionContext, Agent, AgentDescriptor
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.settings import Settings
from registry.local_registry import LocalAgentRegistry
from tests.workflows.saga_support import SagaAgent
from workers.orchestration_worker import build_worker
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput, AgentTaskResult
from workflows.saga_models import SagaTransaction

CALLS = 50


class Meter:
    """How many calls run at once, and the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def call(self, data: int, ctx: ActionContext) -> int:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.01)  # the work: long enough for calls to overlap
            return data
        finally:
            self.now -= 1


async def test_max_concurrency_is_never_exceeded_under_fifty_concurrent_calls(
    temporal_client: Client, unique: str
) -> None:
    descriptor = AgentDescriptor(
        agent_id=f"limited-{unique}", agent_type="Limited", max_concurrency=2
    )
    agent = Agent(descriptor)
    meter = Meter()
    agent.action("work")(meter.call)
    settings = Settings(task_queue=f"orch-{unique}")
    async with agent.worker(temporal_client), build_worker(temporal_client, settings):
        results = await asyncio.gather(
            *(
                temporal_client.execute_workflow(
                    AgentTaskWorkflow.run,
                    AgentTaskInput(agent_id=agent.agent_id, action="work", data=n),
                    id=f"limited-{unique}-{n}",
                    task_queue=settings.task_queue,
                    result_type=AgentTaskResult,
                )
                for n in range(CALLS)
            )
        )
    assert sorted(r.output for r in results) == list(range(CALLS))
    assert meter.most == 2  # calls did overlap, and never more than two


async def test_the_registry_publishes_an_agents_limits(sqlite_registry: LocalAgentRegistry) -> None:
    descriptor = AgentDescriptor(
        agent_id="limited", agent_type="Limited", max_concurrency=4, rate_limit_per_s=2.5
    )
    await sqlite_registry.register(descriptor)
    found = await sqlite_registry.get_agent("limited")
    assert (found.descriptor.max_concurrency, found.descriptor.rate_limit_per_s) == (4, 2.5)


async def test_a_priority_1_saga_goes_before_a_backlog_of_priority_5_sagas_on_its_agent(
    temporal_client: Client, unique: str
) -> None:
    agent = SagaAgent(f"busy-{unique}", ["x"])
    backlog = [
        SagaTransaction(name="routine", steps=[agent.step("x")], priority=1) for _ in range(8)
    ]
    urgent = SagaTransaction(name="urgent", steps=[agent.step("x")], priority=1)
    settings = Settings(task_queue=f"orch-{unique}")
    sagas = SagaOrchestrator(client=temporal_client, settings=settings)
    async with build_worker(temporal_client, settings):
        # every call waits on the agent's queue before the agent polls it
        handles = [await sagas.start(saga, check_agents=False) for saga in backlog]
        await _calls_waiting(temporal_client, [h.id for h in handles])
        handles.append(await sagas.start(urgent, check_agents=False))
        await _calls_waiting(temporal_client, [handles[-1].id])
        worker = agent.agent.worker(temporal_client, max_concurrent_activities=1)
        async with worker:
            await asyncio.gather(*(h.result() for h in handles))
    callers = [call.ctx.idempotency_key.split("/")[0] for call in agent.calls]
    assert len(callers) == 9
    assert callers[0] == urgent.transaction_id, callers


async def _calls_waiting(client: Client, workflow_ids: list[str]) -> None:
    """Until each workflow has an activity scheduled (waiting for a worker)."""
    async with asyncio.timeout(30):
        for workflow_id in workflow_ids:
            handle = client.get_workflow_handle(workflow_id)
            while True:
                if (await handle.describe()).raw_description.pending_activities:
                    break
                await asyncio.sleep(0.05)
