"""Agents protected from overload: the limits an agent publishes are the ones it runs with."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from orchestration import ActionContext, Agent, AgentDescriptor
from orchestration.core.settings import Settings
from registry.local_registry import LocalAgentRegistry
from workers.orchestration_worker import build_worker
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput, AgentTaskResult

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
