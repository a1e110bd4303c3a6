"""The README's saga commands: start the CSRD saga with the temporal CLI, query its status."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from examples.csrd.agents import ALL_AGENTS
from examples.csrd.workspace import Workspace
from orchestration.core.settings import Settings
from tests.workers.test_temporal_cli import temporal_cli
from workers.orchestration_worker import build_worker

CSRD_INPUT = Path(__file__).parents[2] / "examples" / "inputs" / "csrd_saga.json"


async def test_the_csrd_saga_starts_from_the_example_json_and_reports_its_status(
    temporal_dev_env: WorkflowEnvironment, unique: str, csrd_workspace: Workspace
) -> None:
    client = temporal_dev_env.client
    address = client.service_client.config.target_host
    settings = Settings(task_queue=f"orch-{unique}")
    workflow_id = f"csrd-cli-{unique}"
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for agent in ALL_AGENTS:
            await workers.enter_async_context(agent.worker(client))
        await temporal_cli(
            address, "workflow", "start", "--type", "SagaWorkflow",
            "--task-queue", settings.task_queue, "--workflow-id", workflow_id,
            "--input-file", str(CSRD_INPUT),
        )  # fmt: skip
        handle = client.get_workflow_handle(workflow_id)
        await asyncio.wait_for(handle.result(), timeout=60)
        status = json.loads(
            await temporal_cli(
                address,
                "workflow",
                "query",
                "--workflow-id",
                workflow_id,
                "--name",
                "status",
                "--output",
                "json",
            )
        )["queryResult"][0]
    assert status["state"] == "COMPLETED"
    assert status["completed_steps"] == ["collect_data", "validate", "generate_report", "publish"]
    assert status["outputs"]["generate_report"]["emissions_kg"] == {
        "scope1": "18142.583",  # 3 facilities: 6,750 l diesel x 2.68779
        "scope2": "69942.000",  # 300,000 kWh x 0.23314
    }
    ledger = await csrd_workspace.ledger.entries()
    assert sorted(e.action for e in ledger) == ["collect", "generate", "publish", "validate"]
