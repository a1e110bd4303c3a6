"""The example pipeline as users start it: ``temporal workflow start --type PipelineWorkflow
--input-file examples/inputs/pipeline_emissions.json``, then ``temporal workflow query``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import get_origin

from temporalio.testing import WorkflowEnvironment

from examples.pipeline.agents import make_agents
from examples.pipeline.pipeline import DEFAULT_INPUT, emissions_pipeline
from examples.swarm.suppliers import sequential_total
from orchestration.core.settings import Settings
from tests.workers.test_temporal_cli import temporal_cli
from workers.orchestration_worker import build_worker
from workflows.pipeline_models import PipelineExecution, PipelineInput

PIPELINE_INPUT = Path(__file__).parents[2] / "examples" / "inputs" / "pipeline_emissions.json"


def test_the_example_json_is_the_example_pipeline() -> None:
    example = PipelineInput.model_validate_json(PIPELINE_INPUT.read_text())
    assert example.config == emissions_pipeline()
    assert example.input == DEFAULT_INPUT


async def test_the_example_pipeline_starts_from_the_json_and_reports_its_status(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    address = client.service_client.config.target_host
    settings = Settings(task_queue=f"orch-{unique}")
    workflow_id = f"pipeline-cli-{unique}"
    agents = make_agents(prefix=unique)
    # The example file with this test's agents and ids (agent ids are pipeline-<role>).
    pipeline = json.loads(PIPELINE_INPUT.read_text())
    pipeline["execution_id"] = workflow_id
    for stage in pipeline["config"]["stages"]:
        for agent in stage["agents"]:
            agent["agent_id"] = unique + agent["agent_id"].removeprefix("pipeline")
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(pipeline))
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for agent in agents.all:
            await workers.enter_async_context(agent.worker(client))
        await temporal_cli(
            address, "workflow", "start", "--type", "PipelineWorkflow",
            "--task-queue", settings.task_queue, "--workflow-id", workflow_id,
            "--input-file", str(path),
        )  # fmt: skip
        handle = client.get_workflow_handle(workflow_id, result_type=PipelineExecution)
        result = await asyncio.wait_for(handle.result(), timeout=60)
        query = await temporal_cli(
            address, "workflow", "query", "--workflow-id", workflow_id,
            "--name", "status", "--output", "json",
        )  # fmt: skip
    queried = json.loads(query)["queryResult"][0]
    # the CLI's JSON output shows an empty list as null
    fields = PipelineExecution.model_fields
    lists = {
        k: [] for k, v in queried.items() if v is None and get_origin(fields[k].annotation) is list
    }
    status = PipelineExecution.model_validate({**queried, **lists})
    assert status == result
    expected = format(sequential_total(10, 50), "f")  # 1,493,284.14 kg: above the threshold
    assert status.status == "COMPLETED"
    assert [(s.name, s.status) for s in status.stages] == [
        ("intake", "completed"),
        ("calculate", "completed"),
        ("validate", "completed"),
        ("report", "completed"),
    ]
    assert status.stage("calculate").output == expected
    assert status.stage("calculate").calls == 3
    assert status.output["total_kg"] == expected
    assert (status.output["status"], status.output["needs_review"]) == ("flagged", True)
