"""A saga parked for an operator survives its worker's ``kill -9``; the operator's retry,
once the agent is fixed, undoes the effect exactly once; ``saga_pending_actions`` is right
in the restarted worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.ledger import ActionLedger
from orchestration import ActionContext, Agent, AgentDescriptor, Settings
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.retry import RetrySpec
from orchestration.core.settings import SagaConfig
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_http
from orchestration.testing.ports import free_port
from tests.reliability.service import child_env
from tests.workers.cli import cli_env, orchestration
from tests.workflows.saga_support import saga_status
from workflows.saga_models import Approval, SagaState, SagaStep, SagaTransaction

DEADLINE_S = 60.0
QUICK = RetrySpec(maximum_attempts=2, initial_interval_ms=1, maximum_interval_ms=1)


async def start_worker(env: dict[str, str], log: Path, port: int) -> ManagedProcess:
    worker = await ManagedProcess.spawn(
        "orchestration worker",
        [sys.executable, "-m", "orchestration.cli", "worker"],
        log_file=log,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    await wait_for_http("worker", url, timeout_s=DEADLINE_S, process=worker, log_file=log)
    return worker


async def pending_actions(port: int, wanted: dict[str, float]) -> dict[str, float]:
    """``saga_pending_actions`` by kind, once it equals ``wanted`` (or the deadline passed)."""
    async with asyncio.timeout(DEADLINE_S), httpx.AsyncClient() as http:
        while True:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            seen = {
                sample.labels["kind"]: sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "saga_pending_actions"
                for sample in family.samples
            }
            if seen == wanted:
                return seen
            await asyncio.sleep(0.1)


async def test_a_parked_saga_outlives_its_worker_and_an_operator_retry_undoes_it_once(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    queue = f"orch-{unique}"
    ledger = await ActionLedger.open(f"sqlite+aiosqlite:///{tmp_path}/ledger.db")
    agent = Agent(AgentDescriptor(agent_id=f"parked-{unique}", agent_type="Test"))
    broken = True
    release_attempts = 0
    applied: list[str] = []

    @agent.action("reserve")
    async def reserve(data: Any, ctx: ActionContext) -> str:
        return "reserved"

    @agent.action("release")
    async def release(data: Any, ctx: ActionContext) -> str:
        nonlocal release_attempts
        release_attempts += 1
        if broken:
            raise RuntimeError("the stock service is down")

        async def effect() -> str:
            applied.append(ctx.idempotency_key)
            return "released"

        result = await ledger.run_once(
            ctx.idempotency_key, agent_id=ctx.agent_id, action=ctx.action, fn=effect
        )
        return str(result)

    @agent.action("ship")
    async def ship(data: Any, ctx: ActionContext) -> str:
        raise ValueError("no trucks")

    order = SagaTransaction(
        transaction_id=f"order-{unique}",
        steps=[
            SagaStep("reserve", agent.agent_id, "reserve", compensation="release"),
            SagaStep("ship", agent.agent_id, "ship", depends_on=["reserve"], retry_policy=QUICK),
        ],
    )
    report = SagaTransaction(
        transaction_id=f"report-{unique}",
        steps=[SagaStep("sign_off", approval=Approval(approvers=["cfo"]))],
    )
    settings = Settings(task_queue=queue, saga=SagaConfig(compensation_retry=QUICK))
    sagas = SagaOrchestrator(settings=settings, client=client)
    port = free_port()
    env = child_env(tmp_path, client, TASK_QUEUE=queue, METRICS_PORT=str(port),
                    PENDING_ACTIONS_INTERVAL_S="0.2")  # fmt: skip
    worker = await start_worker(env, tmp_path / "worker-1.log", port)
    try:
        async with agent.worker(client):
            handle = await sagas.start(order)
            await sagas.start(report)
            parked = await saga_status(sagas, order.transaction_id, lambda e: bool(e.incidents))
            before_kill = await pending_actions(port, {"approval": 1.0, "intervention": 1.0})
            os.kill(worker.pid, signal.SIGKILL)
            assert await worker.wait() == -signal.SIGKILL
            worker = await start_worker(env, tmp_path / "worker-2.log", port)
            after_restart = await pending_actions(port, {"approval": 1.0, "intervention": 1.0})
            broken = False  # the agent is fixed
            resolved = await orchestration(
                "saga", "resolve", order.transaction_id, "reserve", "--retry", "--by", "ops",
                "--reason", "stock service back", env=cli_env(client, queue),
            )  # fmt: skip
            with contextlib.suppress(WorkflowFailureError):  # compensated: a failed workflow
                await asyncio.wait_for(handle.result(), DEADLINE_S)
            await sagas.approve(report.transaction_id, "sign_off", approver="cfo")
            drained = await pending_actions(port, {"approval": 0.0, "intervention": 0.0})
            final = await sagas.get_execution_status(order.transaction_id)
            recorded = await ledger.get(f"{order.transaction_id}/reserve/compensate")
    finally:
        await worker.stop()
        await ledger.close()

    assert parked.state == SagaState.NEEDS_INTERVENTION
    assert parked.steps["reserve"].compensation_error is not None
    assert "the stock service is down" in parked.steps["reserve"].compensation_error
    assert before_kill == after_restart == {"approval": 1.0, "intervention": 1.0}
    assert resolved.code == 0, resolved.stderr
    assert final.state == SagaState.COMPENSATED
    assert release_attempts == 3  # two failed attempts, then the operator's retry
    key = f"{order.transaction_id}/reserve/compensate"
    assert applied == [key]  # the effect, once
    assert recorded is not None and recorded.result == "released"  # and in the ledger
    assert drained == {"approval": 0.0, "intervention": 0.0}
    assert [(i.action, i.by) for i in final.interventions] == [("retry", "ops")]
