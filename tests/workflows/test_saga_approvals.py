"""Approval steps: a person's sign-off inside a saga, decided through Temporal Updates.
Time-skipping server: days pass in milliseconds."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from orchestration.core.exceptions import (
    RequestRefusedError,
    SagaCompensationError,
    SagaError,
    ValidationError,
)
from tests.workflows.saga_support import SagaAgent, saga_status, saga_worker
from workflows.saga_models import (
    Approval,
    SagaExecution,
    SagaState,
    SagaStep,
    SagaTransaction,
    StepState,
)

CFO = "cfo@acme.example"
DAY = timedelta(days=1)


@pytest.fixture
def env(temporal_time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return temporal_time_skipping_env


def sign_off(*depends_on: str, **approval: object) -> SagaStep:
    return SagaStep(
        "sign_off",
        approval=Approval(approvers=[CFO, "controller@acme.example"], **approval),
        depends_on=list(depends_on),
    )


def awaiting(step: str) -> object:
    return lambda e: e.steps[step].state == StepState.AWAITING_APPROVAL


async def history_length(client: Client, workflow_id: str) -> int:
    return len((await client.get_workflow_handle(workflow_id).fetch_history()).events)


async def test_an_approval_granted_after_three_days_completes_the_saga(
    env: WorkflowEnvironment, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["collect", "publish"])
    transaction = SagaTransaction(
        steps=[agent.step("collect"), sign_off("collect"), agent.step("publish", "sign_off")]
    )
    tx_id = transaction.transaction_id
    async with saga_worker(env.client, unique, agent) as orchestrator:
        handle = await orchestrator.start(transaction)
        waiting = await saga_status(orchestrator, tx_id, awaiting("sign_off"))
        await env.sleep(3 * DAY)  # far past the saga's 5-minute deadline: people are spared
        record = await orchestrator.approve(tx_id, "sign_off", approver=CFO, comment="ok")
        execution = await handle.result()

    assert waiting.state == SagaState.AWAITING_APPROVAL
    [pending] = waiting.pending_approvals
    assert pending.approvers == [CFO, "controller@acme.example"]
    assert agent.entries("do:") == ["collect", "publish"]
    assert execution.state == SagaState.COMPLETED
    assert record.decision == "approved" and record.approver == CFO and record.identity
    waited = datetime.fromisoformat(record.at) - datetime.fromisoformat(pending.since)
    assert waited >= 3 * DAY
    assert execution.approvals == [record]
    output = execution.outputs["sign_off"]
    assert output == {"approved_by": CFO, "approved_at": record.at, "comment": "ok"}
    # publish got the sign-off as its dependency's output
    [publish] = agent.calls_of("do-publish")
    assert publish.ctx.context["dependencies"]["sign_off"] == output


async def test_other_steps_run_while_an_approval_waits(
    env: WorkflowEnvironment, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "independent"])
    transaction = SagaTransaction(steps=[agent.step("a"), sign_off("a"), agent.step("independent")])
    tx_id = transaction.transaction_id
    async with saga_worker(env.client, unique, agent) as orchestrator:
        handle = await orchestrator.start(transaction)
        status = await saga_status(
            orchestrator,
            tx_id,
            lambda e: (
                e.steps["independent"].state == StepState.COMPLETED
                and e.steps["sign_off"].state == StepState.AWAITING_APPROVAL
            ),
        )
        await orchestrator.approve(tx_id, "sign_off", approver="Controller@ACME.example")
        execution = await handle.result()

    assert status.state == SagaState.AWAITING_APPROVAL
    assert execution.state == SagaState.COMPLETED
    assert execution.approvals[0].approver == "Controller@ACME.example"  # matched ignoring case


async def test_a_rejection_fails_the_step_and_the_saga_compensates(
    env: WorkflowEnvironment, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["collect", "publish"])
    transaction = SagaTransaction(
        steps=[agent.step("collect"), sign_off("collect"), agent.step("publish", "sign_off")]
    )
    tx_id = transaction.transaction_id
    async with saga_worker(env.client, unique, agent) as orchestrator:
        await orchestrator.start(transaction)
        await saga_status(orchestrator, tx_id, awaiting("sign_off"))
        with pytest.raises(ValidationError):  # a rejection needs a reason
            await orchestrator.reject(tx_id, "sign_off", approver=CFO, reason="")
        await orchestrator.reject(tx_id, "sign_off", approver=CFO, reason="scope 3 missing")
        with pytest.raises(SagaError) as failed:
            await orchestrator.execute(transaction)

    execution = failed.value.execution
    assert isinstance(execution, SagaExecution)
    assert execution.state == SagaState.COMPENSATED
    assert execution.failed_step == "sign_off"
    assert execution.steps["sign_off"].error == f"rejected by {CFO}: scope 3 missing"
    assert agent.entries("undone:") == ["collect"]
    assert agent.entries("do:") == ["collect"]
    [rejection] = execution.approvals
    assert (rejection.decision, rejection.note) == ("rejected", "scope 3 missing")


async def test_an_approval_nobody_decides_is_rejected_by_default(
    env: WorkflowEnvironment, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["collect"])
    transaction = SagaTransaction(
        steps=[agent.step("collect"), sign_off("collect", timeout_ms=2 * 86_400_000)]
    )
    async with saga_worker(env.client, unique, agent) as orchestrator:
        with pytest.raises(SagaError) as failed:
            await orchestrator.execute(transaction)

    execution = failed.value.execution
    assert execution.state == SagaState.COMPENSATED
    assert execution.steps["sign_off"].error == (
        "no decision within 2 days: rejected (on_timeout=reject)"
    )
    assert [a.decision for a in execution.approvals] == ["timed_out"]
    assert agent.entries("undone:") == ["collect"]


# A parked saga schedules nothing: awaited with ``result()`` (as ``execute`` does), the
# time-skipping server would skip to the end of time. These tests poll the status instead,
# and move time with ``env.sleep``; ``execute`` raising on a park is tested on the dev server.


async def test_an_approval_nobody_decides_can_park_the_saga_for_an_operator(
    env: WorkflowEnvironment, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["collect", "publish"])
    transaction = SagaTransaction(
        steps=[
            agent.step("collect"),
            sign_off("collect", timeout_ms=86_400_000, on_timeout="intervene"),
            agent.step("publish", "sign_off"),
        ]
    )
    tx_id = transaction.transaction_id
    async with saga_worker(env.client, unique, agent) as orchestrator:
        handle = await orchestrator.start(transaction)
        await saga_status(orchestrator, tx_id, awaiting("sign_off"))
        await env.sleep(DAY + timedelta(seconds=1))
        parked = await saga_status(orchestrator, tx_id, lambda e: bool(e.incidents))
        # retry: wait another day; then an approver decides while it waits again
        await orchestrator.resolve(tx_id, "sign_off", "retry", by="ops", reason="CFO is back")
        again = await saga_status(orchestrator, tx_id, lambda e: bool(e.pending_approvals))
        await orchestrator.approve(tx_id, "sign_off", approver=CFO)
        execution = await handle.result()

    assert parked.state == SagaState.NEEDS_INTERVENTION and parked.manual_intervention_required
    [incident] = parked.incidents
    assert (incident.kind, incident.error) == ("approval", "no decision within 1 day")
    assert incident.actions == ["retry", "skip"]
    assert again.state == SagaState.AWAITING_APPROVAL
    assert execution.outputs["sign_off"]["approved_by"] == CFO
    assert execution.state == SagaState.COMPLETED
    assert [(i.action, i.by) for i in execution.interventions] == [("retry", "ops")]
    assert agent.entries("do:") == ["collect", "publish"]


async def test_a_parked_approval_can_be_skipped_or_decided_while_parked(
    env: WorkflowEnvironment, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["publish"])
    steps = [
        sign_off(timeout_ms=3_600_000, on_timeout="intervene"),
        agent.step("publish", "sign_off"),
    ]
    skipped, approved = SagaTransaction(steps=steps), SagaTransaction(steps=steps)
    async with saga_worker(env.client, unique, agent) as orchestrator:
        handles = [await orchestrator.start(t) for t in (skipped, approved)]
        await env.sleep(timedelta(hours=1, seconds=1))
        for transaction in (skipped, approved):
            await saga_status(orchestrator, transaction.transaction_id, lambda e: bool(e.incidents))
        with pytest.raises(RequestRefusedError, match="resolved with retry or skip"):
            await orchestrator.resolve(
                skipped.transaction_id, "sign_off", "mark_compensated", by="ops", reason="x"
            )
        await orchestrator.resolve(
            skipped.transaction_id, "sign_off", "skip", by="ops", reason="board approved"
        )
        await orchestrator.approve(approved.transaction_id, "sign_off", approver=CFO)
        first, second = [await handle.result() for handle in handles]

    assert first.state == SagaState.COMPLETED
    assert first.steps["sign_off"].state == StepState.SKIPPED
    assert [(i.action, i.reason) for i in first.interventions] == [("skip", "board approved")]
    assert second.state == SagaState.COMPLETED and second.interventions == []
    assert second.steps["sign_off"].state == StepState.COMPLETED
    assert agent.entries("do:") == ["publish", "publish"]


async def test_refused_decisions_name_why_and_leave_no_trace_in_the_history(
    temporal_dev_env: WorkflowEnvironment, unique: str
) -> None:
    # On the dev server: a real server validates updates in a speculative workflow task, so
    # a refusal writes no event (the time-skipping test server writes a workflow task).
    env = temporal_dev_env
    agent = SagaAgent(f"agent-{unique}", ["collect"])
    transaction = SagaTransaction(steps=[agent.step("collect"), sign_off("collect")])
    tx_id = transaction.transaction_id
    agent.hold("do:collect")
    async with saga_worker(env.client, unique, agent) as orchestrator:
        await orchestrator.start(transaction)
        await agent.reached("do:collect")
        with pytest.raises(RequestRefusedError, match=r"not awaiting approval \(it is PENDING\)"):
            await orchestrator.approve(tx_id, "sign_off", approver=CFO)
        agent.gates["do:collect"].set()
        await saga_status(orchestrator, tx_id, awaiting("sign_off"))
        before = await history_length(env.client, tx_id)
        refusals = {}
        for label, call in {
            "unknown approver": orchestrator.approve(tx_id, "sign_off", approver="mallory@x"),
            "unknown step": orchestrator.approve(tx_id, "sing_off", approver=CFO),
            "not an approval": orchestrator.approve(tx_id, "collect", approver=CFO),
            "not parked": orchestrator.resolve(tx_id, "collect", "retry", by="ops", reason="x"),
        }.items():
            with pytest.raises(RequestRefusedError) as refused:
                await call
            refusals[label] = str(refused.value)
        after = await history_length(env.client, tx_id)
        await orchestrator.approve(tx_id, "sign_off", approver=CFO)
        execution = await orchestrator.execute(transaction)
        with pytest.raises(RequestRefusedError, match=r"already ended \(COMPLETED\)"):
            await orchestrator.approve(tx_id, "sign_off", approver=CFO)

    assert after == before  # a refused update writes nothing
    assert refusals["unknown approver"] == (
        "approve refused: 'mallory@x' is not an approver of step 'sign_off' "
        f"(approvers: {CFO}, controller@acme.example)"
    )
    assert "has no step 'sing_off' (its approval steps: sign_off)" in refusals["unknown step"]
    assert (
        f"step 'collect' is not an approval step (it runs {agent.agent_id}.do-collect)"
        in (refusals["not an approval"])
    )
    assert "step 'collect' is not waiting for an operator" in refusals["not parked"]
    assert list(execution) == ["collect", "sign_off"]


async def test_a_cancelled_saga_stops_waiting_for_its_approval(
    env: WorkflowEnvironment, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["collect"])
    transaction = SagaTransaction(steps=[agent.step("collect"), sign_off("collect")])
    tx_id = transaction.transaction_id
    async with saga_worker(env.client, unique, agent) as orchestrator:
        handle = await orchestrator.start(transaction)
        await saga_status(orchestrator, tx_id, awaiting("sign_off"))
        await orchestrator.cancel(tx_id)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        status = await orchestrator.get_execution_status(tx_id)

    assert status.state == SagaState.ABORTED
    assert status.steps["sign_off"].state == StepState.NOT_RUN
    assert status.pending_approvals == []
    assert agent.entries("undone:") == ["collect"]


async def test_execute_raises_as_soon_as_the_saga_parks_and_says_how_to_resolve_it(
    temporal_dev_env: WorkflowEnvironment, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["collect"])
    transaction = SagaTransaction(
        steps=[agent.step("collect"), sign_off("collect", timeout_ms=1000, on_timeout="intervene")]
    )
    tx_id = transaction.transaction_id
    async with saga_worker(temporal_dev_env.client, unique, agent) as orchestrator:
        with pytest.raises(SagaCompensationError) as parked:
            await orchestrator.execute(transaction)
        await orchestrator.approve(tx_id, "sign_off", approver=CFO)  # still decidable
        outputs = await orchestrator.execute(transaction)

    error = parked.value
    assert error.execution.state == SagaState.NEEDS_INTERVENTION
    assert error.resolve_command == (
        f"orchestration saga resolve {tx_id} sign_off --retry --by NAME --reason TEXT"
    )
    assert str(error) == (
        f"saga {tx_id!r} needs manual intervention (manual intervention required): approval "
        "step 'sign_off' was not decided in time: no decision within 1 s; it waits, parked, "
        f"for: {error.resolve_command} (or --skip)"
    )
    assert outputs["sign_off"]["approved_by"] == CFO
