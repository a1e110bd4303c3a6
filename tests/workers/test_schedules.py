"""Sagas and pipelines on Temporal Schedules, from Python and from ``orchestration schedule``
(the dev server: the time-skipping test server has no scheduler)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from orchestration.clients.pipeline import Pipeline
from orchestration.clients.schedules import Schedules
from orchestration.core.exceptions import ScheduleError, ValidationError
from tests.workers.cli import cli_env, orchestration
from tests.workflows.pipeline_support import StepAgent, config, running, stage
from tests.workflows.saga_support import SagaAgent, saga_worker
from workflows.pipeline import PipelineWorkflow
from workflows.pipeline_models import PipelineStatus
from workflows.saga import SagaWorkflow
from workflows.saga_models import SagaState, SagaTransaction

DEADLINE_S = 60.0


async def scheduled_runs(client: Client, schedule_id: str, count: int) -> list[str]:
    """The workflow ids of the schedule's runs, once there are ``count`` of them."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        ids = [
            w.id async for w in client.list_workflows(f"TemporalScheduledById = '{schedule_id}'")
        ]
        if len(ids) >= count or time.monotonic() > deadline:
            return sorted(ids)
        await asyncio.sleep(0.2)


async def test_a_saga_schedule_triggered_and_backfilled_over_three_periods(
    temporal_dev_env: WorkflowEnvironment, unique: str
) -> None:
    client = temporal_dev_env.client
    agent = SagaAgent(f"agent-{unique}", ["report"])
    transaction = SagaTransaction(name="monthly", steps=[agent.step("report")])
    schedule_id = f"monthly-{unique}"
    async with saga_worker(client, unique, agent) as orchestrator:
        created = await orchestrator.schedule(
            transaction, {"company": "acme"}, schedule_id=schedule_id, interval_ms=3_600_000
        )
        with pytest.raises(ScheduleError, match="exists already"):
            await orchestrator.schedule(transaction, schedule_id=schedule_id, interval_ms=3_600_000)
        schedules = Schedules(settings=orchestrator._settings, client=client)
        await schedules.trigger(schedule_id)
        [triggered] = await scheduled_runs(client, schedule_id, 1)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        await schedules.backfill(schedule_id, start, start.replace(hour=2, minute=30))
        runs = await scheduled_runs(client, schedule_id, 4)
        executions = [
            await asyncio.wait_for(
                client.get_workflow_handle_for(SagaWorkflow.run, run).result(), DEADLINE_S
            )
            for run in runs
        ]
        described = await schedules.describe(schedule_id)
        await schedules.pause(schedule_id, "quarter closed")
        paused = await schedules.describe(schedule_id)
        listed = [v.schedule_id for v in await schedules.list()]
        await schedules.delete(schedule_id)
        with pytest.raises(ScheduleError, match=f"no schedule '{schedule_id}'"):
            await schedules.describe(schedule_id)

    assert (created.workflow_type, created.spec, created.overlap) == (
        "SagaWorkflow",
        "every 1h",
        "skip",
    )
    assert len(created.next_runs) > 0
    backfilled = [run for run in runs if run != triggered]
    assert backfilled == [
        f"{schedule_id}-2026-01-01T00:00:00Z",
        f"{schedule_id}-2026-01-01T01:00:00Z",
        f"{schedule_id}-2026-01-01T02:00:00Z",
    ]
    assert triggered.startswith(f"{schedule_id}-2026-12-") or triggered.startswith(
        f"{schedule_id}-"
    )
    assert len(set(runs)) == 4
    for run, execution in zip(runs, executions, strict=True):
        assert execution.state == SagaState.COMPLETED
        assert execution.transaction_id == run  # the transaction id carries the time
    keys = {call.ctx.idempotency_key for call in agent.calls}
    assert keys == {f"{run}/report" for run in runs}  # a key per period
    assert len(described.recent_runs) == 4
    assert paused.paused and paused.note == "quarter closed"
    assert schedule_id in listed


async def test_a_scheduled_pipeline_run_is_an_execution_of_its_own(
    temporal_dev_env: WorkflowEnvironment, unique: str
) -> None:
    client = temporal_dev_env.client
    a = StepAgent(f"{unique}-a")
    schedule_id = f"nightly-{unique}"
    async with running(client, unique, a) as settings:
        pipeline = Pipeline(config(stage("inc", a.ref("inc"))), settings=settings, client=client)
        with pytest.raises(ValidationError, match="exactly one of cron and interval_ms"):
            await pipeline.schedule(1, schedule_id=schedule_id)
        with pytest.raises(ValidationError, match="overlap"):
            await pipeline.schedule(1, schedule_id=schedule_id, cron="0 0 * * *", overlap="x")  # type: ignore[arg-type]
        await pipeline.schedule(1, schedule_id=schedule_id, cron="0 0 * * *")
        schedules = Schedules(settings=settings, client=client)
        await schedules.trigger(schedule_id)
        [run] = await scheduled_runs(client, schedule_id, 1)
        handle = client.get_workflow_handle_for(PipelineWorkflow.run, run)
        execution = await asyncio.wait_for(handle.result(), DEADLINE_S)
        await schedules.delete(schedule_id)

    assert execution.status is PipelineStatus.COMPLETED and execution.output == 2
    assert execution.execution_id == run != schedule_id
    assert a.calls[0].ctx.idempotency_key.startswith(f"{run}/inc/")


async def test_schedules_from_the_command_line(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    agent = SagaAgent(f"agent-{unique}", ["report"])
    transaction = SagaTransaction(name="monthly", steps=[agent.step("report")])
    path = tmp_path / "saga.json"
    path.write_text(json.dumps({"transaction": transaction.model_dump(mode="json")}))
    schedule_id = f"cli-{unique}"
    env = {**cli_env(client, f"orch-{unique}"), "COLUMNS": "80"}
    async with saga_worker(client, unique, agent):
        bad_cron = await orchestration(
            "schedule", "create", str(path), "--id", schedule_id, "--cron", "every tuesday", env=env
        )
        both = await orchestration("schedule", "create", str(path), "--id", schedule_id,
                                   "--cron", "0 6 1 * *", "--every", "1h", env=env)  # fmt: skip
        bad_every = await orchestration(
            "schedule", "create", str(path), "--id", schedule_id, "--every", "soon", env=env
        )
        created = await orchestration(
            "schedule", "create", str(path), "--id", schedule_id, "--cron", "0 6 1 * *", env=env
        )
        listed = await orchestration("schedule", "list", env=env)
        triggered = await orchestration("schedule", "trigger", schedule_id, env=env)
        [run] = await scheduled_runs(client, schedule_id, 1)
        await asyncio.wait_for(client.get_workflow_handle(run).result(), DEADLINE_S)
        described = await orchestration("schedule", "describe", schedule_id, "--json", env=env)
        paused = await orchestration("schedule", "pause", schedule_id, "--note", "audit", env=env)
        deleted = await orchestration("schedule", "delete", schedule_id, env=env)
        missing = await orchestration("schedule", "describe", schedule_id, env=env)

    for result in (bad_cron, both, bad_every):
        assert result.code == 2 and "Traceback" not in result.stderr, result
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "cron" in bad_cron.stderr
    assert "give exactly one of cron and interval_ms" in both.stderr
    assert "--every 'soon': a number and a unit" in bad_every.stderr
    assert created.code == 0, created.stderr
    assert created.stdout.splitlines()[0] == f"schedule {schedule_id}: SagaWorkflow, cron 0 6 1 * *"
    assert "next run: 2" in created.stdout
    assert listed.code == 0 and schedule_id in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    assert triggered.code == 0 and paused.code == 0 and deleted.code == 0
    view = json.loads(described.stdout)
    assert [r["workflow_id"] for r in view["recent_runs"]] == [run]
    assert missing.code == 1 and missing.stderr.strip() == f"error: no schedule '{schedule_id}'"
