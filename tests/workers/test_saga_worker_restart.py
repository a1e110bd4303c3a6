"""A worker killed mid-saga and restarted: the saga completes, no step runs twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from orchestration import ActionContext, Agent, AgentDescriptor, Settings
from orchestration.clients.saga import SagaOrchestrator
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_http
from orchestration.testing.ports import free_port
from tests.reliability.service import child_env
from workflows.saga_models import SagaStep, SagaTransaction


async def start_worker(
    address: str, queue: str, tmp_path: Path, port: int, env: dict[str, str] | None = None
) -> ManagedProcess:
    """``orchestration worker`` on ``queue``, once it serves /metrics; ``env`` added to its
    environment (e.g. ``OTEL_*``)."""
    env = child_env(
        tmp_path, TEMPORAL_ADDRESS=address, TASK_QUEUE=queue, METRICS_PORT=str(port)
    ) | (env or {})
    worker = await ManagedProcess.spawn(
        "orchestration worker",
        [sys.executable, "-m", "orchestration.cli", "worker"],
        log_file=tmp_path / "worker.log",
        env=env,
    )
    await wait_for_http(
        "orchestration worker",
        f"http://127.0.0.1:{port}/metrics",
        timeout_s=60,
        process=worker,
        log_file=worker.log_file,
    )
    return worker


async def test_a_saga_survives_a_killed_worker_without_rerunning_completed_steps(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    address = client.service_client.config.target_host
    queue = f"orch-{unique}"
    runs: Counter[str] = Counter()
    second_started = asyncio.Event()
    release_second = asyncio.Event()
    agent = Agent(AgentDescriptor(agent_id=f"restart-{unique}", agent_type="Test"))

    @agent.action("work")
    async def work(data: Any, ctx: ActionContext) -> str:
        runs[ctx.context["step"]] += 1
        if ctx.context["step"] == "second":
            second_started.set()
            await release_second.wait()
        return ctx.context["step"]

    transaction = SagaTransaction(
        name="restart",
        steps=[
            SagaStep("first", agent.agent_id, "work"),
            SagaStep("second", agent.agent_id, "work", depends_on=["first"]),
            SagaStep("third", agent.agent_id, "work", depends_on=["second"]),
        ],
    )
    sagas = SagaOrchestrator(None, settings=Settings(task_queue=queue), client=client)
    port = free_port()
    worker = await start_worker(address, queue, tmp_path, port)
    try:
        async with agent.worker(client):
            handle = await sagas.start(transaction)
            await asyncio.wait_for(second_started.wait(), timeout=60)
            os.kill(worker.pid, signal.SIGKILL)
            assert await worker.wait() == -signal.SIGKILL
            release_second.set()  # "second" completes while no orchestration worker runs
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

            worker = await start_worker(address, queue, tmp_path, port)
            execution = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        await worker.stop()
    assert execution.state == "COMPLETED"
    assert execution.completed_steps == ["first", "second", "third"]
    assert runs == {"first": 1, "second": 1, "third": 1}
