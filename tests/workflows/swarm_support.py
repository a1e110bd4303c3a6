"""Running swarms in tests: in-process agents and the orchestration worker on unique queues."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from temporalio.client import Client

from activities.agent import Agent
from examples.swarm.agents import make_agents
from orchestration.clients.swarm import SwarmOrchestrator
from orchestration.core.settings import Settings, SwarmConfig
from workers.orchestration_worker import build_worker
from workflows.swarm_models import SwarmTask

__all__ = ["running_swarm", "task"]


@contextlib.asynccontextmanager
async def running_swarm(
    client: Client, unique: str, agents: int, *, max_concurrent: int = 4, registry: Any = None
) -> AsyncIterator[tuple[SwarmOrchestrator, list[Agent]]]:
    """``agents`` example agents (ids ``<unique>-000``...) and the worker; an orchestrator."""
    settings = Settings(task_queue=f"orch-{unique}")
    pool = make_agents(0, agents, prefix=unique)
    for agent in pool:
        agent.action("sum_items")(_sum_items)
    orchestrator = SwarmOrchestrator(
        client=client, settings=settings, config=SwarmConfig(min_agents=1), registry=registry
    )
    async with contextlib.AsyncExitStack() as stack:
        for agent in pool:
            await stack.enter_async_context(
                agent.worker(client, max_concurrent_activities=max_concurrent)
            )
        await stack.enter_async_context(build_worker(client, settings))
        yield orchestrator, pool


async def _sum_items(data: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Inline items' ``value`` fields added up (a non-number makes the partition fail)."""
    total = 0
    for item in data["items"]:
        value = item["value"]
        if not isinstance(value, int):
            raise TypeError(f"item value {value!r} is not an integer")
        total += value
    return {"value": total}


def task(pool: list[Agent], **fields: Any) -> SwarmTask:
    """An example supplier-emissions task over ``pool`` (fields override)."""
    values: dict[str, Any] = {
        "objective": "Calculate supplier emissions",
        "data_partitions": 20,
        "agents_required": len(pool),
        "agents": [a.agent_id for a in pool],
        "action": "calculate_emissions",
        "items_per_partition": 10,
        "params": {"suppliers_per_partition": 10},
        "timeout_ms": 60_000,
        "partition_timeout_ms": 10_000,
    }
    values.update(fields)
    return SwarmTask(**values)
