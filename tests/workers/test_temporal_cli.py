"""Users start our workflows with the temporal CLI: prove it with the real binary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from orchestration.core.settings import Settings
from orchestration.stack.binaries import temporal_cli_path
from workers.agent_runtime import load_agent
from workers.orchestration_worker import build_worker
from workflows.models import AgentTaskResult

EXAMPLE_INPUT = Path(__file__).parents[2] / "examples" / "inputs" / "hello.json"


async def temporal_cli(address: str, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        temporal_cli_path(),
        *args,
        "--address",
        address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_the_readme_hello_workflow_starts_and_answers_queries_through_the_temporal_cli(
    temporal_dev_env: WorkflowEnvironment, unique: str
) -> None:
    client = temporal_dev_env.client
    address = client.service_client.config.target_host
    settings = Settings(task_queue=f"orch-{unique}")
    agent = load_agent("examples.hello_agent:agent")
    workflow_id = f"cli-{unique}"
    async with build_worker(client, settings), agent.worker(client):
        await temporal_cli(
            address,
            "workflow",
            "start",
            "--type",
            "AgentTaskWorkflow",
            "--task-queue",
            settings.task_queue,
            "--workflow-id",
            workflow_id,
            "--input-file",
            str(EXAMPLE_INPUT),
        )
        result = await client.get_workflow_handle(workflow_id, result_type=AgentTaskResult).result()
        state = await temporal_cli(
            address,
            "workflow",
            "query",
            "--workflow-id",
            workflow_id,
            "--name",
            "state",
            "--output",
            "json",
        )
    assert result.output["greeting"] == "Hello, GreenLang!"
    assert result.output["idempotency_key"] == f"{workflow_id}/greet"
    assert json.loads(state)["queryResult"] == ["COMPLETED"]
