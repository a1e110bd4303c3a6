"""The supplier-emissions agents: run many of them in one process.

``python -m examples.swarm.agents --first 0 --count 25`` runs agents
``emissions-000`` .. ``emissions-024`` (each a Temporal worker on its own task queue) until
SIGINT/SIGTERM, registered with the registry while they run (``ORCH_AGENT_REGISTER``). Every
agent has the action ``calculate_emissions`` (one partition's suppliers
-> their emissions, a decimal string in kg CO2e); the first also has ``list_partitions``, the
swarm's source (one descriptor per partition: 100 suppliers of one region).
``calculate_rows`` prices the rows of a dataset partition (a supplier CSV export,
``examples/swarm/supplier_csv.py``) and rejects the rows it cannot price.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from activities.agent import Agent
from activities.context import ActionContext
from activities.presence import AgentPresence
from examples.swarm.supplier_csv import row_emissions
from examples.swarm.suppliers import (
    SUPPLIERS_PER_PARTITION,
    partition_emissions,
    partition_region,
)
from examples.swarm.workloads import partition_delay_ms, partition_key
from orchestration import get_settings
from orchestration.core.lifecycle import wait_for_stop_signal
from orchestration.core.temporal_client import connect
from registry.models import AgentDescriptor, ServiceType

__all__ = ["CAPABILITY", "agent_id", "make_agent", "make_agents"]

CAPABILITY = "supplier_emissions"


def agent_id(n: int) -> str:
    return f"emissions-{n:03d}"


def make_agent(n: int, *, prefix: str = "emissions") -> Agent:
    """Agent number ``n``: ``calculate_emissions``, and ``list_partitions`` as well."""
    agent = Agent(
        AgentDescriptor(
            agent_id=f"{prefix}-{n:03d}",
            agent_type="SupplierEmissionsCalculator",
            capabilities=[CAPABILITY],
            service_types=[ServiceType.COMPUTATION],
            metadata={"location": ["eu-west", "us-east", "ap-south"][n % 3]},
        )
    )

    @agent.action("calculate_emissions")
    async def calculate_emissions(data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        params = data.get("params", {})
        count = int(params.get("suppliers_per_partition", SUPPLIERS_PER_PARTITION))
        await SIMULATED_IO.spend(params, ctx.agent_id, data.get("key"))
        total = partition_emissions(int(data["partition"]), count)
        return {"value": format(total, "f"), "suppliers": count}

    @agent.action("calculate_rows")
    async def calculate_rows(data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        await SIMULATED_IO.spend(data.get("params", {}), ctx.agent_id, data.get("key"))
        total, priced = Decimal(0), 0
        for index, row in enumerate(data["items"]):
            emissions = row_emissions(row)
            if isinstance(emissions, Decimal):
                total, priced = total + emissions, priced + 1
            else:
                ctx.reject_rows(index, emissions)
        return {"value": format(total, "f"), "suppliers": priced}

    @agent.action("list_partitions")
    async def list_partitions(data: dict[str, Any], ctx: ActionContext) -> list[dict[str, Any]]:
        partitions = int(data.get("partitions", 1000))
        count = int(data.get("suppliers_per_partition", SUPPLIERS_PER_PARTITION))
        keys = [str(k) for k in data.get("keys", ())]
        blocks = bool(data.get("blocks", False))

        def key(p: int) -> str:
            if not keys:
                return partition_region(p)
            return partition_key(keys, p, partitions, blocks=blocks)

        return [{"items": count, "key": key(p), "data": {}} for p in range(partitions)]

    return agent


class SimulatedIO:
    """The time the example agents spend per partition, for demos, tests and benchmarks:
    ``examples/swarm/workloads.py`` describes the knobs (``params``), all off by default.

    It keeps, per ``params["run"]`` and agent, how many partitions the agent took and which
    keys it saw (the last few runs only), and one semaphore per key for ``upstream_limit``,
    shared by the agents of this process.
    """

    RUNS_KEPT = 8

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}

    async def spend(self, params: dict[str, Any], agent: str, key: str | None) -> None:
        if agent in params.get("failing", ()):
            raise RuntimeError(f"{agent} is configured to fail (params.failing)")
        name = str(params.get("run", ""))
        run = self._runs.get(name)
        if run is None:
            run = self._runs[name] = _Run()
            if len(self._runs) > self.RUNS_KEPT:
                del self._runs[next(iter(self._runs))]
        count = run.counts[agent] = run.counts.get(agent, 0) + 1
        seen = run.seen.setdefault(agent, set())
        first = key is not None and key not in seen
        if key is not None:
            seen.add(key)
        delay_ms = partition_delay_ms(params, agent, key, count, first)
        limit = int(params.get("upstream_limit", 0))
        if delay_ms <= 0:
            return
        if limit <= 0 or key is None:
            await asyncio.sleep(delay_ms / 1000)
            return
        upstream = run.upstreams.setdefault(key, asyncio.Semaphore(limit))
        async with upstream:
            await asyncio.sleep(delay_ms / 1000)


@dataclass
class _Run:
    counts: dict[str, int] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    upstreams: dict[str, asyncio.Semaphore] = field(default_factory=dict)


SIMULATED_IO = SimulatedIO()


def make_agents(first: int, count: int, *, prefix: str = "emissions") -> list[Agent]:
    return [make_agent(n, prefix=prefix) for n in range(first, first + count)]


async def _run(first: int, count: int, prefix: str) -> None:
    settings = get_settings()
    client = await connect(settings)
    async with contextlib.AsyncExitStack() as stack:
        for agent in make_agents(first, count, prefix=prefix):
            await stack.enter_async_context(
                agent.worker(
                    client, max_concurrent_activities=4, max_concurrent_activity_task_polls=1
                )
            )
            if settings.agent_register:  # listed by `orchestration agents list`, as agents are
                await stack.enter_async_context(
                    AgentPresence(agent.descriptor, agent.stats, settings)
                )
        print(f"ready: {count} agents {prefix}-{first:03d}..{prefix}-{first + count - 1:03d}",
              flush=True)  # fmt: skip
        await wait_for_stop_signal()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=25)
    parser.add_argument("--prefix", default="emissions")
    args = parser.parse_args()
    asyncio.run(_run(args.first, args.count, args.prefix))


if __name__ == "__main__":
    main()
