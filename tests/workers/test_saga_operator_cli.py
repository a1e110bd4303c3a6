"""``orchestration saga approve | reject | resolve | cancel``, and what ``status``, ``start``
and ``list`` show of sagas waiting for people: the real CLI against the dev server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from orchestration.core.retry import RetrySpec
from orchestration.core.settings import SagaConfig
from tests.workers.cli import CliResult, cli_env, orchestration
from tests.workflows.saga_support import SagaAgent, saga_status, saga_worker
from workflows.saga_models import Approval, SagaState, SagaStep, SagaTransaction, StepState

CFO = "cfo@acme.example"
QUICK = RetrySpec(maximum_attempts=2, initial_interval_ms=1, maximum_interval_ms=1)


def saga_file(tmp_path: Path, transaction: SagaTransaction) -> Path:
    path = tmp_path / f"{transaction.transaction_id}.json"
    path.write_text(json.dumps({"transaction": transaction.model_dump(mode="json")}))
    return path


async def listed(env: dict[str, str], state: str, wanted: str) -> list[str]:
    """Ids ``saga list --state`` shows, once ``wanted`` is among them (visibility lags)."""
    deadline = time.monotonic() + 30
    while True:
        result = await orchestration("saga", "list", "--state", state, "--json", env=env)
        ids = [row["transaction_id"] for row in json.loads(result.stdout)]
        if wanted in ids or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.3)


def one_line_error(result: CliResult) -> str:
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


async def test_an_approval_from_the_command_line(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    agent = SagaAgent(f"agent-{unique}", ["collect", "publish"])
    transaction = SagaTransaction(
        transaction_id=f"approve-{unique}",
        steps=[
            agent.step("collect"),
            SagaStep("sign_off", approval=Approval(approvers=[CFO]), depends_on=["collect"]),
            agent.step("publish", "sign_off"),
        ],
    )
    tx_id = transaction.transaction_id
    async with saga_worker(client, unique, agent) as orchestrator:
        env = cli_env(client, f"orch-{unique}")
        started = await orchestration("saga", "start", str(saga_file(tmp_path, transaction)),
                                      "--no-wait", env=env)  # fmt: skip
        await saga_status(orchestrator, tx_id, lambda e: bool(e.pending_approvals))
        status = await orchestration("saga", "status", tx_id, env={**env, "COLUMNS": "80"})
        ids = await listed(env, "AWAITING_APPROVAL", tx_id)
        stranger = await orchestration("saga", "approve", tx_id, "sign_off", "--by", "eve", env=env)
        wrong_step = await orchestration("saga", "approve", tx_id, "collect", "--by", CFO, env=env)
        approved = await orchestration(
            "saga", "approve", tx_id, "sign_off", "--by", CFO, "--comment", "figures checked",
            env=env,
        )  # fmt: skip
        execution = await orchestrator.execute(transaction)
        again = await orchestration("saga", "approve", tx_id, "sign_off", "--by", CFO, env=env)
        final = await orchestrator.get_execution_status(tx_id)

    assert started.code == 0, started.stderr
    assert status.code == 0, status.stderr
    assert "AWAITING_APPROVAL" in status.stdout
    assert f"awaiting approval: sign_off by {CFO}" in status.stdout
    assert f"orchestration saga approve {tx_id} sign_off --by NAME" in status.stdout
    assert max(len(line) for line in status.stdout.splitlines()) <= 80
    assert tx_id in ids
    assert one_line_error(stranger) == (
        f"error: approve refused: 'eve' is not an approver of step 'sign_off' (approvers: {CFO})"
    )
    assert "is not an approval step" in one_line_error(wrong_step)
    assert approved.code == 0, approved.stderr
    assert approved.stdout.strip() == f"approved: step sign_off of saga {tx_id}, by {CFO}"
    assert execution["sign_off"]["comment"] == "figures checked"
    assert one_line_error(again) == f"error: saga {tx_id!r} already ended (COMPLETED)"
    assert final.approvals[0].identity  # the CLI's Temporal client identity, recorded


async def test_a_parked_saga_resolved_from_the_command_line_and_a_cancel(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    agent = SagaAgent(f"agent-{unique}", ["a", "fail", "b"])
    agent.broken.update({"do:fail", "undo:a"})
    parked = SagaTransaction(
        transaction_id=f"parked-{unique}", steps=[agent.step("a"), agent.step("fail", "a")]
    )
    waiting = SagaTransaction(
        transaction_id=f"cancel-{unique}",
        steps=[agent.step("b"), SagaStep("sign_off", approval=Approval(approvers=[CFO]),
                                         depends_on=["b"])],
    )  # fmt: skip
    config = SagaConfig(compensation_retry=QUICK)
    async with saga_worker(client, unique, agent, config=config) as orchestrator:
        env = cli_env(client, f"orch-{unique}", SAGA_COMPENSATION_RETRY=QUICK.model_dump_json())
        start = await orchestration("saga", "start", str(saga_file(tmp_path, parked)), env=env)
        ids = await listed(env, "NEEDS_INTERVENTION", parked.transaction_id)
        no_action = await orchestration(
            "saga", "resolve", parked.transaction_id, "a", "--by", "ops", "--reason", "x", env=env
        )
        wrong_action = await orchestration(
            "saga", "resolve", parked.transaction_id, "a", "--skip", "--by", "ops",
            "--reason", "x", env=env,
        )  # fmt: skip
        agent.broken.discard("undo:a")  # the agent is fixed
        resolved = await orchestration(
            "saga", "resolve", parked.transaction_id, "a", "--retry", "--by", "ops",
            "--reason", "agent fixed", env=env,
        )  # fmt: skip
        after = await saga_status(
            orchestrator, parked.transaction_id, lambda e: e.state == SagaState.COMPENSATED
        )
        await orchestration("saga", "start", str(saga_file(tmp_path, waiting)), "--no-wait",
                            env=env)  # fmt: skip
        await saga_status(orchestrator, waiting.transaction_id, lambda e: bool(e.pending_approvals))
        cancelled = await orchestration("saga", "cancel", waiting.transaction_id, env=env)
        aborted = await saga_status(
            orchestrator, waiting.transaction_id, lambda e: e.state == SagaState.ABORTED
        )

    assert start.code == 3, (start.stdout, start.stderr)  # manual intervention
    assert "NEEDS_INTERVENTION" in start.stdout
    assert "needs intervention: the compensation of 'a' failed" in start.stdout
    command = f"orchestration saga resolve {parked.transaction_id} a --retry"
    assert command in start.stdout
    assert "(or --mark-compensated instead of --retry)" in start.stdout
    assert parked.transaction_id in ids
    assert one_line_error(no_action) == (
        "error: choose one of --retry, --skip and --mark-compensated"
    )
    assert one_line_error(wrong_action) == (
        "error: resolve refused: step 'a' (compensation failed) is resolved with retry or "
        "mark_compensated, not skip"
    )
    assert resolved.code == 0, resolved.stderr
    assert after.compensated_steps == ["a"] and after.steps["a"].state == StepState.COMPENSATED
    [decision] = after.interventions
    assert (decision.action, decision.by, decision.reason) == ("retry", "ops", "agent fixed")
    assert agent.entries("undone:") == ["a", "b"]  # a once, after the retry; then b
    assert cancelled.code == 0, cancelled.stderr
    assert aborted.steps["sign_off"].state == StepState.NOT_RUN
