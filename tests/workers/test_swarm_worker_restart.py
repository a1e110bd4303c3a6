"""The orchestration worker killed mid-swarm and restarted: the swarm finishes, exactly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from decimal import Decimal
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from examples.swarm.agents import make_agents
from examples.swarm.suppliers import sequential_total
from orchestration.clients.swarm import SwarmOrchestrator
from orchestration.core.settings import Settings, SwarmConfig
from orchestration.testing.ports import free_port
from swarm.scheduling import SwarmBehavior
from tests.workers.test_saga_worker_restart import start_worker
from workflows.swarm_models import SwarmTask


async def test_a_swarm_survives_a_killed_orchestration_worker(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    address = client.service_client.config.target_host
    queue = f"orch-{unique}"
    agents = make_agents(0, 4, prefix=unique)
    swarm = SwarmOrchestrator(
        client=client, settings=Settings(task_queue=queue), config=SwarmConfig(min_agents=1)
    )
    task = SwarmTask(
        objective="restart",
        data_partitions=60,
        agents_required=4,
        agents=[a.agent_id for a in agents],
        action="calculate_emissions",
        items_per_partition=10,
        params={"suppliers_per_partition": 10, "delay_ms": 30},
        behavior=SwarmBehavior.SWARMING,
        max_batch=2,
    )
    port = free_port()
    worker = await start_worker(address, queue, tmp_path, port)
    try:
        async with contextlib.AsyncExitStack() as workers:
            for agent in agents:
                await workers.enter_async_context(agent.worker(client))
            handle = await swarm.start(task)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while (progress := await swarm.progress(task.swarm_id)) is None or (
                progress.completed < 10
            ):
                assert loop.time() < deadline, "the swarm made no progress"
                await asyncio.sleep(0.02)
            os.kill(worker.pid, signal.SIGKILL)
            assert await worker.wait() == -signal.SIGKILL
            worker = await start_worker(address, queue, tmp_path, port)
            result = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        await worker.stop()
    assert progress.completed < 60, "the swarm ended before the worker was killed"
    assert Decimal(result["result"]) == sequential_total(60, 10)
    assert result["partitions_completed"] == 60
    assert sum(a["partitions"] for a in result["agents"].values()) == 60
