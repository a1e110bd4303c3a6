"""The monthly CSRD saga of docs/operating-sagas.md, as an operator runs it: scheduled with
``orchestration schedule create``, triggered, signed off with ``saga approve``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from examples.csrd.agents import ALL_AGENTS
from examples.csrd.saga import SIGN_OFF, csrd_transaction
from examples.csrd.workspace import Workspace
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.settings import Settings
from tests.workers.cli import cli_env, orchestration
from workers.orchestration_worker import build_worker
from workflows.saga_models import SagaInput, SagaState

MONTHLY = Path(__file__).parents[2] / "examples" / "inputs" / "csrd_monthly.json"


def test_the_monthly_json_is_the_csrd_saga_with_a_sign_off() -> None:
    saga = SagaInput.model_validate_json(MONTHLY.read_text())
    expected = csrd_transaction("csrd-monthly", sign_off_by=["cfo@acme.example"])
    assert saga.transaction == expected


async def test_the_monthly_csrd_saga_scheduled_and_signed_off_from_the_command_line(
    temporal_dev_env: WorkflowEnvironment, unique: str, csrd_workspace: Workspace
) -> None:
    client = temporal_dev_env.client
    settings = Settings(task_queue=f"orch-{unique}")
    env = cli_env(client, settings.task_queue)
    schedule_id = f"csrd-monthly-{unique}"
    sagas = SagaOrchestrator(settings=settings, client=client)
    workers = [build_worker(client, settings), *(a.worker(client) for a in ALL_AGENTS)]
    for worker in workers:
        await worker.__aenter__()
    try:
        created = await orchestration(
            "schedule", "create", str(MONTHLY), "--id", schedule_id, "--cron", "0 6 1 * *",
            env=env,
        )  # fmt: skip
        await orchestration("schedule", "trigger", schedule_id, env=env)
        deadline = time.monotonic() + 60
        while True:
            runs = [w.id async for w in client.list_workflows(
                f"TemporalScheduledById = '{schedule_id}'")]  # fmt: skip
            status = await sagas.get_execution_status(runs[0]) if runs else None
            if status is not None and status.state == SagaState.AWAITING_APPROVAL:
                break
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.2)
        [run] = runs
        approved = await orchestration(
            "saga", "approve", run, SIGN_OFF, "--by", "cfo@acme.example", env=env
        )
        execution = await asyncio.wait_for(
            client.get_workflow_handle_for(sagas_workflow(), run).result(), 60
        )
        await orchestration("schedule", "delete", schedule_id, env=env)
    finally:
        for worker in reversed(workers):
            await worker.__aexit__(None, None, None)

    assert created.code == 0, created.stderr
    assert "next run: 2" in created.stdout
    assert approved.code == 0, approved.stderr
    assert execution.state == SagaState.COMPLETED
    assert execution.transaction_id == run and run.startswith(f"{schedule_id}-")
    assert execution.outputs[SIGN_OFF]["approved_by"] == "cfo@acme.example"
    assert json.loads(Path(execution.outputs["publish"]["published"]).read_text())


def sagas_workflow() -> object:
    from workflows.saga import SagaWorkflow

    return SagaWorkflow.run
