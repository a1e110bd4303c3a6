"""Users start our workflows with the temporal CLI: prove it with the real binary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from orchestration.core.settings import Settings
from orchestration.stack.binaries import temporal_cli_path
from workers.agent_runtime import load_agent
from workers.orchestration_worker import build_worker
from workflows.inputs import INVALID_INPUT
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


CYCLE = {
    "transaction": {
        "name": "cyclic",
        "steps": [
            {"name": "a", "agent_id": "agent-a", "action": "x", "depends_on": ["c"]},
            {"name": "b", "agent_id": "agent-b", "action": "x", "depends_on": ["a"]},
            {"name": "c", "agent_id": "agent-c", "action": "x", "depends_on": ["b"]},
        ],
    }
}
NO_AGENT = {"transaction": {"name": "anonymous", "steps": [{"name": "a", "action": "x"}]}}


@pytest.mark.parametrize(
    ("workflow_type", "raw_input", "named"),
    [
        ("SagaWorkflow", CYCLE, "dependency cycle"),
        ("SagaWorkflow", NO_AGENT, "transaction.steps.0.agent_id: Field required"),
        ("SagaWorkflow", "just a string", "input: Input should be a valid dictionary"),
        ("SwarmWorkflow", {"task": {"objective": "x", "data_partitions": 0}}, "task."),
        ("PipelineWorkflow", {"config": {"name": "p", "stages": []}}, "config.stages"),
        ("AgentTaskWorkflow", {"action": "greet"}, "agent_id: Field required"),
    ],
    ids=["saga-cycle", "saga-no-agent", "saga-string", "swarm", "pipeline", "agent-task"],
)
async def test_a_workflow_started_with_invalid_input_fails_at_once_naming_the_field(
    temporal_dev_env: WorkflowEnvironment,
    unique: str,
    workflow_type: str,
    raw_input: object,
    named: str,
) -> None:
    client = temporal_dev_env.client
    address = client.service_client.config.target_host
    settings = Settings(task_queue=f"orch-{unique}")
    workflow_id = f"bad-{unique}"
    async with build_worker(client, settings):
        await temporal_cli(
            address,
            *("workflow", "start", "--type", workflow_type, "--task-queue", settings.task_queue),
            *("--workflow-id", workflow_id, "--input", json.dumps(raw_input)),
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 60)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == INVALID_INPUT and cause.non_retryable
    assert named in cause.message, cause.message
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    failed_tasks = [
        e for e in history.events if e.HasField("workflow_task_failed_event_attributes")
    ]
    assert failed_tasks == []  # the workflow failed; no workflow task was retried
