"""``orchestration swarm deploy``: the example task file, a progress bar, the result as JSON."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from examples.swarm.agents import make_agents
from examples.swarm.suppliers import sequential_total
from orchestration.settings import Settings
from workers.orchestration_worker import build_worker

EXAMPLE = Path(__file__).parents[2] / "examples" / "inputs" / "swarm_emissions.json"


async def test_swarm_deploy_runs_the_example_task_and_prints_the_result(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    settings = Settings(task_queue=f"orch-{unique}")
    agents = make_agents(0, 4, prefix=unique)
    task = json.loads(EXAMPLE.read_text())  # the example, scaled down to this test
    task.update(
        data_partitions=20,
        agents_required=4,
        agents=[a.agent_id for a in agents],
        swarm_id=f"swarm-cli-{unique}",
        params={"suppliers_per_partition": 10},
    )
    task["source"].update(
        agent_id=agents[0].agent_id, params={"partitions": 20, "suppliers_per_partition": 10}
    )
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task))
    env = {
        **os.environ,
        "ORCH_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "ORCH_TASK_QUEUE": settings.task_queue,
        "ORCH_SWARM_MIN_AGENTS": "1",
    }
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for agent in agents:
            await workers.enter_async_context(agent.worker(client))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestration.cli", "swarm", "deploy", str(path),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert Decimal(result["result"]) == sequential_total(20, 10)
    assert result["status"] == "completed"
    assert "partitions" in stderr.decode()  # the progress bar went to stderr


async def test_swarm_deploy_names_the_bad_field_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"objective": "x", "data_partitions": 0}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestration.cli", "swarm", "deploy", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "data_partitions" in stderr.decode()
    assert "Traceback" not in stderr.decode()
