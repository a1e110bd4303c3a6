"""Running pipelines in tests: a scriptable agent, the example's agents, unique queues.

``StepAgent`` logs every call it gets (``calls``) and has small actions a test composes
stages from: ``inc`` (n + 1), ``double`` (n * 2), ``tag`` ({"agent", "input"}), ``nested``
({"result": {"value": n}}), ``fail`` (fails for good), ``meet`` (returns once ``barrier``'s
parties all arrived: calls run one after the other never get there), ``block`` (sets
``entered``, then waits for ``release``), ``sum_items`` (a map-reduce chunk's items added up)
and ``reduce`` (an agent reducer: the partials' values added up, and their chunk order).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from examples.pipeline.agents import PipelineAgents, make_agents
from orchestration import ActionContext, Agent, AgentDescriptor
from orchestration.core.retry import RetrySpec
from orchestration.core.settings import Settings
from registry.backend import RegistryBackend
from workers.orchestration_worker import build_worker
from workflows.pipeline_models import AgentRef, PipelineConfig, PipelineStage

__all__ = [
    "DEADLINE_S",
    "FAST_RETRY",
    "Call",
    "StepAgent",
    "config",
    "running",
    "running_example",
    "stage",
]

DEADLINE_S = 10.0
"""How long anything in these tests may wait for something that should happen at once."""

FAST_RETRY = RetrySpec(maximum_attempts=2, initial_interval_ms=1, maximum_interval_ms=1)


@dataclass
class Call:
    action: str
    data: Any
    ctx: ActionContext


class StepAgent:
    """A test agent; see the module docstring."""

    def __init__(self, agent_id: str, barrier: asyncio.Barrier | None = None) -> None:
        self.agent = Agent(AgentDescriptor(agent_id=agent_id, agent_type="PipelineTest"))
        self.calls: list[Call] = []
        self.barrier = barrier
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        for name in ("inc", "double", "tag", "nested", "fail", "retry", "meet", "block"):
            self.agent.action(name)(self._handler(name))
        self.agent.action("sum_items")(self._logged("sum_items", _sum_items))
        self.agent.action("reduce")(self._logged("reduce", _reduce))

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id

    def ref(self, action: str, condition: str | None = None) -> AgentRef:
        return AgentRef(agent_id=self.agent_id, action=action, condition=condition)

    def calls_of(self, action: str) -> list[Call]:
        return [c for c in self.calls if c.action == action]

    def _logged(self, name: str, fn: Any) -> Any:
        async def handler(data: Any, ctx: ActionContext) -> Any:
            self.calls.append(Call(name, data, ctx))
            return fn(data)

        return handler

    def _handler(self, name: str) -> Any:
        async def handler(data: Any, ctx: ActionContext) -> Any:
            self.calls.append(Call(name, data, ctx))
            return await self._run(name, data)

        return handler

    async def _run(self, name: str, data: Any) -> Any:
        if name == "inc":
            return data + 1
        if name == "double":
            return data * 2
        if name == "tag":
            return {"agent": self.agent_id, "input": data}
        if name == "nested":
            return {"result": {"value": data}}
        if name == "fail":
            raise ApplicationError(f"injected failure in {self.agent_id}", non_retryable=True)
        if name == "retry":
            raise ApplicationError(f"{self.agent_id} is not ready yet")  # retryable
        if name == "meet":
            assert self.barrier is not None
            async with asyncio.timeout(DEADLINE_S / 2):
                await self.barrier.wait()
            return {"agent": self.agent_id, "input": data}
        self.entered.set()  # block
        await self.release.wait()
        return data


def _sum_items(data: dict[str, Any]) -> dict[str, Any]:
    return {"value": sum(data["items"]), "chunk": data["chunk"]}


def _reduce(data: dict[str, Any]) -> dict[str, Any]:
    partials = data["partials"]
    return {"total": sum(p["value"] for p in partials), "chunks": [p["chunk"] for p in partials]}


def stage(name: str, *agents: AgentRef, **options: Any) -> PipelineStage:
    """A stage with fast retries (options override)."""
    options.setdefault("retry_policy", FAST_RETRY)
    return PipelineStage(name=name, agents=list(agents), **options)


def config(*stages: PipelineStage, **options: Any) -> PipelineConfig:
    options.setdefault("name", "test_pipeline")
    return PipelineConfig(stages=list(stages), **options)


@contextlib.asynccontextmanager
async def running(
    client: Client, unique: str, *agents: StepAgent, registry: RegistryBackend | None = None
) -> AsyncIterator[Settings]:
    """The agents' workers and the orchestration worker (task queue ``orch-<unique>``,
    routing calls by capability with ``registry``)."""
    settings = Settings(task_queue=f"orch-{unique}")
    async with contextlib.AsyncExitStack() as stack:
        for agent in agents:
            await stack.enter_async_context(agent.agent.worker(client))
        await stack.enter_async_context(build_worker(client, settings, registry=registry))
        yield settings


@contextlib.asynccontextmanager
async def running_example(
    client: Client, unique: str
) -> AsyncIterator[tuple[Settings, PipelineAgents]]:
    """The example pipeline's agents (ids ``<unique>-intake`` ...) and the worker."""
    settings = Settings(task_queue=f"orch-{unique}")
    agents = make_agents(prefix=unique)
    async with contextlib.AsyncExitStack() as stack:
        for agent in agents.all:
            await stack.enter_async_context(agent.worker(client))
        await stack.enter_async_context(build_worker(client, settings))
        yield settings, agents
