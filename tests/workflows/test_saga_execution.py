"""SagaWorkflow end to end: concurrency, inputs, pivots, failures, cancellation, timeouts,
status, idempotency and metrics. Time-skipping server unless real time is the point."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import SagaCompensationError, SagaError, SagaTimeoutError
from orchestration.core.retry import RetrySpec
from orchestration.core.search_attributes import ORCHESTRATION_STATE
from orchestration.core.settings import SagaConfig, Settings
from tests.workflows.saga_support import (
    SagaAgent,
    activity_cancel_requested,
    saga_status,
    saga_worker,
)
from workflows.saga import SagaWorkflow
from workflows.saga_models import SagaExecution, SagaState, SagaTransaction, StepState

DATA = {"company": "acme", "year": 2024}


@pytest.fixture
def client(temporal_time_skipping_env: WorkflowEnvironment) -> Client:
    return temporal_time_skipping_env.client


async def search_state(client: Client, transaction: SagaTransaction) -> str | None:
    description = await client.get_workflow_handle(transaction.transaction_id).describe()
    return description.typed_search_attributes.get(ORCHESTRATION_STATE)


async def test_independent_steps_run_at_the_same_time(client: Client, unique: str) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "c"])
    transaction = SagaTransaction(steps=[agent.step("a"), agent.step("b"), agent.step("c", "a")])
    # Each of a and b completes only once the other started: run one after the other, the
    # first would give up after the deadline and the saga would fail.
    agent.after.update({"do:a": ["do:b"], "do:b": ["do:a"]})
    async with saga_worker(client, unique, agent) as orchestrator:
        outputs = await orchestrator.execute(transaction, DATA)

    assert sorted(outputs) == ["a", "b", "c"]
    assert agent.log.index("do:c") > agent.log.index("done:a")


async def test_actions_get_the_data_their_dependencies_outputs_and_a_stable_key(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "c"])
    transaction = SagaTransaction(
        steps=[agent.step("c", "a", "b"), agent.step("a"), agent.step("b")]
    )
    async with saga_worker(client, unique, agent) as orchestrator:
        outputs = await orchestrator.execute(transaction, DATA)

    saga_id = transaction.transaction_id
    assert outputs == {name: {"step": name, "attempt": 1} for name in ("a", "b", "c")}
    [c] = agent.calls_of("do-c")
    assert c.data == DATA
    assert c.ctx.context["dependencies"] == {"a": outputs["a"], "b": outputs["b"]}
    assert c.ctx.idempotency_key == f"{saga_id}/c"
    assert c.ctx.caller == saga_id
    [a] = agent.calls_of("do-a")
    assert (a.data, a.ctx.context["dependencies"]) == (DATA, {})
    assert a.ctx.idempotency_key == f"{saga_id}/a"


async def test_compensations_get_the_steps_input_and_output_on_the_same_agent(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "fail"])
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("b", "a"), agent.step("fail", "b")]
    )
    agent.broken.add("do:fail")
    async with saga_worker(client, unique, agent) as orchestrator:
        with pytest.raises(SagaError):
            await orchestrator.execute(transaction, DATA)

    [undo_b] = agent.calls_of("undo-b")
    assert undo_b.data == DATA
    assert undo_b.ctx.context["output"] == {"step": "b", "attempt": 1}
    assert undo_b.ctx.context["dependencies"] == {"a": {"step": "a", "attempt": 1}}
    assert undo_b.ctx.idempotency_key == f"{transaction.transaction_id}/b/compensate"
    assert undo_b.ctx.agent_id == agent.agent_id
    assert agent.calls_of("undo-fail") == []  # the failed step itself is not undone


async def test_after_the_pivot_failures_are_retried_until_they_succeed(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "pivot", "after"])
    transaction = SagaTransaction(
        steps=[
            agent.step("a"),
            agent.step("pivot", "a", is_pivot=True, compensation=None),
            agent.step("after", "pivot"),
        ]
    )
    agent.failures["after"] = 5  # 2 attempts per dispatch: beyond its own retry policy
    async with saga_worker(client, unique, agent) as orchestrator:
        outputs = await orchestrator.execute(transaction, DATA)
        status = await orchestrator.get_execution_status(transaction.transaction_id)

    # First dispatch: its own 2 attempts; then one more dispatch retrying without limit.
    assert outputs["after"] == {"step": "after", "attempt": 4}
    assert agent.entries("failed:") == ["after"] * 5
    assert agent.entries("undo:") == []
    assert status.state == SagaState.COMPLETED
    assert status.pivot_completed and status.forward_recovery
    assert status.steps["after"].dispatches == 2
    assert not status.compensated_steps


# A parked saga schedules nothing, and ``execute`` awaits its result: on the time-skipping
# server time would then skip to the end of time. Parking is tested on the dev server.


async def test_after_the_pivot_a_step_that_can_never_work_parks_until_an_operator_skips_it(
    temporal_client: Client, unique: str
) -> None:
    client = temporal_client
    agent = SagaAgent(f"agent-{unique}", ["a", "pivot", "refused", "typed"])
    give_up_on_runtime_errors = RetrySpec(non_retryable_error_types=["RuntimeError"])
    transaction = SagaTransaction(
        steps=[
            agent.step("a"),
            agent.step("pivot", "a", is_pivot=True, compensation=None),
            agent.step("refused", "pivot"),
            agent.step("typed", "pivot", retry_policy=give_up_on_runtime_errors),
        ]
    )
    agent.broken.add("do:refused")  # a non-retryable error
    agent.failures["typed"] = 1_000  # RuntimeError: non-retryable by the step's policy
    tx_id = transaction.transaction_id
    async with saga_worker(client, unique, agent) as orchestrator:
        with pytest.raises(SagaCompensationError) as info:
            await orchestrator.execute(transaction, DATA)
        parked = await saga_status(orchestrator, tx_id, lambda e: len(e.incidents) == 2)
        assert await search_state(client, transaction) == "NEEDS_INTERVENTION"
        for step in ("refused", "typed"):
            await orchestrator.resolve(tx_id, step, "skip", by="ops", reason="done by hand")
        outputs = await orchestrator.execute(transaction, DATA)  # attaches: it completes
        status = await orchestrator.get_execution_status(tx_id)

    execution = info.value.execution
    assert isinstance(execution, SagaExecution)
    assert execution.state == SagaState.NEEDS_INTERVENTION
    assert execution.manual_intervention_required
    assert info.value.resolve_command is not None
    assert f"orchestration saga resolve {tx_id} " in info.value.resolve_command
    assert {i.step for i in parked.incidents} == {"refused", "typed"}
    assert all(i.kind == "step" and i.actions == ["retry", "skip"] for i in parked.incidents)
    # Dispatching them again could not help: each ran once, and nothing was undone.
    assert sorted(agent.entries("do:")) == ["a", "pivot", "refused", "typed"]
    assert agent.entries("undo:") == []
    assert status.state == SagaState.COMPLETED and not status.manual_intervention_required
    assert status.steps["refused"].state == status.steps["typed"].state == StepState.SKIPPED
    assert sorted(i.step for i in status.interventions) == ["refused", "typed"]
    assert all(i.by == "ops" and i.action == "skip" for i in status.interventions)
    assert outputs["refused"] is None and "pivot" in outputs


async def test_a_failure_before_the_pivot_is_compensated(client: Client, unique: str) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "pivot", "after"])
    transaction = SagaTransaction(
        steps=[
            agent.step("a"),
            agent.step("pivot", "a", is_pivot=True, compensation=None),
            agent.step("after", "pivot"),
        ]
    )
    agent.broken.add("do:pivot")
    async with saga_worker(client, unique, agent) as orchestrator:
        with pytest.raises(SagaError) as info:
            await orchestrator.execute(transaction, DATA)

    assert isinstance(info.value.execution, SagaExecution)
    assert info.value.execution.state == SagaState.COMPENSATED
    assert agent.entries("undone:") == ["a"]
    assert info.value.execution.steps["after"].state == StepState.NOT_RUN


async def test_a_compensation_that_keeps_failing_parks_until_marked_compensated(
    temporal_client: Client, unique: str
) -> None:
    client = temporal_client
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "fail"])
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("b", "a"), agent.step("fail", "b")]
    )
    agent.broken.update({"do:fail", "undo:a"})
    tx_id = transaction.transaction_id
    five_quick_attempts = RetrySpec(
        maximum_attempts=5, initial_interval_ms=1, maximum_interval_ms=1
    )
    config = SagaConfig(compensation_retry=five_quick_attempts)
    async with saga_worker(client, unique, agent, config=config) as orchestrator:
        with pytest.raises(SagaCompensationError) as info:
            await orchestrator.execute(transaction, DATA)
        status = await orchestrator.get_execution_status(tx_id)
        state_while_parked = await search_state(client, transaction)
        await orchestrator.resolve(
            tx_id, "a", "mark_compensated", by="ops", reason="rows deleted by hand"
        )
        with pytest.raises(SagaError) as ended:
            await orchestrator.execute(transaction, DATA)

    error = info.value
    assert error.compensated_steps == ("b",)
    assert error.uncompensated_steps == ("a",)
    assert agent.entries("undo-failed:") == ["a"] * 5  # every compensation attempt
    assert "manual intervention" in str(error)
    for execution in (error.execution, status):
        assert isinstance(execution, SagaExecution)
        assert execution.state == SagaState.NEEDS_INTERVENTION
        assert execution.manual_intervention_required
        assert execution.steps["a"].state == StepState.COMPENSATION_FAILED
        assert "undoing a failed" in (execution.steps["a"].compensation_error or "")
        [incident] = execution.incidents
        assert (incident.step, incident.kind, incident.agent_id) == (
            "a",
            "compensation",
            agent.agent_id,
        )
    assert state_while_parked == "NEEDS_INTERVENTION"
    final = ended.value.execution
    assert not isinstance(ended.value, SagaCompensationError)
    assert final.state == SagaState.COMPENSATED and not final.manual_intervention_required
    assert final.compensated_steps == ["b", "a"]
    [decision] = final.interventions
    assert (decision.step, decision.action, decision.by) == ("a", "mark_compensated", "ops")
    assert decision.reason == "rows deleted by hand" and decision.identity
    assert await search_state(client, transaction) == "COMPENSATED"


def a_b_pivot(unique: str) -> tuple[SagaAgent, SagaTransaction]:
    """a -> b -> pivot (which has no compensation), on one agent."""
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "pivot"])
    steps = [
        agent.step("a"),
        agent.step("b", "a"),
        agent.step("pivot", "b", is_pivot=True, compensation=None),
    ]
    return agent, SagaTransaction(steps=steps)


async def test_cancelling_before_the_pivot_compensates_and_ends_aborted(
    temporal_client: Client, unique: str
) -> None:
    """Real server: the time-skipping one stops skipping time for good once a workflow closes
    while one of its actions still runs (here b, which only learns of the cancellation
    through its next heartbeat)."""
    client = temporal_client
    agent, transaction = a_b_pivot(unique)
    agent.gate("do:b")  # never released: b only stops because it is cancelled
    async with saga_worker(client, unique, agent) as orchestrator:
        await orchestrator.start(transaction, DATA)
        await agent.reached("do:b")
        await orchestrator.cancel(transaction.transaction_id)
        with pytest.raises(SagaError) as info:
            await orchestrator.execute(transaction, DATA)
        await agent.reached("cancelled:b")
        status = await orchestrator.get_execution_status(transaction.transaction_id)

    assert type(info.value) is SagaError
    assert "cancelled" in str(info.value)
    assert status.state == SagaState.ABORTED
    assert status.compensated_steps == ["a"]
    assert status.steps["b"].state == StepState.FAILED
    assert status.steps["pivot"].state == StepState.NOT_RUN
    assert agent.entries("do:") == ["a", "b"]
    assert await search_state(client, transaction) == "ABORTED"


async def test_a_step_its_agent_completes_after_the_cancellation_is_compensated_too(
    temporal_client: Client, unique: str
) -> None:
    """b's agent never heartbeats, so it never learns of the cancellation and applies its
    effect anyway: the saga waits for b's call to settle and undoes b as well as a."""
    agent, transaction = a_b_pivot(unique)
    release = agent.gate("do:b")
    agent.deaf.add("do:b")
    async with saga_worker(temporal_client, unique, agent) as orchestrator:
        handle = await orchestrator.start(transaction, DATA)
        await agent.reached("do:b")
        await orchestrator.cancel(transaction.transaction_id)
        await activity_cancel_requested(handle)
        release.set()  # b completes after all
        with pytest.raises(SagaError):
            await orchestrator.execute(transaction, DATA)
        status = await orchestrator.get_execution_status(transaction.transaction_id)

    assert agent.entries("done:") == ["a", "b"]
    assert status.state == SagaState.ABORTED
    assert status.compensated_steps == ["b", "a"]
    assert agent.entries("undone:") == ["b", "a"]
    assert status.steps["pivot"].state == StepState.NOT_RUN


async def test_cancelling_while_compensating_does_not_stop_the_compensation(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "fail"])
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("b", "a"), agent.step("fail", "b")]
    )
    agent.broken.add("do:fail")
    release = agent.gate("undo:b")
    async with saga_worker(client, unique, agent) as orchestrator:
        await orchestrator.start(transaction, DATA)
        await agent.reached("undo:b")
        compensating = await orchestrator.get_execution_status(transaction.transaction_id)
        compensating_attribute = await search_state(client, transaction)
        await orchestrator.cancel(transaction.transaction_id)
        await saga_status(
            orchestrator,
            transaction.transaction_id,
            lambda s: any("cancellation requested" in e for e in s.errors),
        )
        release.set()
        with pytest.raises(SagaError) as info:
            await orchestrator.execute(transaction, DATA)

    assert compensating.state == SagaState.COMPENSATING == compensating_attribute
    assert compensating.steps["b"].state == StepState.COMPENSATING
    assert agent.entries("undone:") == ["b", "a"]
    assert "cancelled:b" not in agent.log
    execution = info.value.execution
    assert isinstance(execution, SagaExecution)
    assert execution.compensated_steps == ["b", "a"]
    assert execution.state == SagaState.COMPENSATED


async def test_the_overall_timeout_compensates_and_raises_a_timeout_error(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "stuck"])
    hourly = RetrySpec(maximum_attempts=0, initial_interval_ms=600_000, maximum_interval_ms=600_000)
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("stuck", "a", retry_policy=hourly)],
        timeout_ms=3_600_000,
    )
    agent.failures["stuck"] = 1_000  # it would succeed, eventually: after the deadline
    async with saga_worker(client, unique, agent) as orchestrator:
        with pytest.raises(SagaTimeoutError) as info:
            await orchestrator.execute(transaction, DATA)

    assert isinstance(info.value, asyncio.TimeoutError)
    execution = info.value.execution
    assert isinstance(execution, SagaExecution)
    assert execution.state == SagaState.COMPENSATED
    assert execution.compensated_steps == ["a"]
    assert execution.steps["stuck"].state == StepState.FAILED
    assert 5 <= len(agent.entries("failed:")) <= 7  # one attempt per 10 minutes
    assert execution.duration_ms is not None and execution.duration_ms >= 3_600_000


async def test_a_step_hanging_past_the_timeout_is_cancelled(
    temporal_client: Client, unique: str
) -> None:
    """Real time: the time-skipping server does not skip time while an action runs."""
    agent = SagaAgent(f"agent-{unique}", ["a", "hang"])
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("hang", "a", timeout_ms=3_600_000)],
        timeout_ms=2_000,
    )
    agent.gate("do:hang")  # never released
    async with saga_worker(temporal_client, unique, agent) as orchestrator:
        with pytest.raises(asyncio.TimeoutError) as info:
            await orchestrator.execute(transaction, DATA)
        await agent.reached("cancelled:hang")

    assert isinstance(info.value, SagaTimeoutError)
    assert isinstance(info.value.execution, SagaExecution)
    assert info.value.execution.compensated_steps == ["a"]
    assert agent.entries("done:") == ["a"]


async def test_long_retry_backoffs_are_skipped_by_the_test_server(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["slow"])
    every_ten_minutes = RetrySpec(
        maximum_attempts=5, initial_interval_ms=600_000, maximum_interval_ms=600_000
    )
    transaction = SagaTransaction(
        steps=[agent.step("slow", retry_policy=every_ten_minutes)], timeout_ms=7_200_000
    )
    agent.failures["slow"] = 4
    async with saga_worker(client, unique, agent) as orchestrator:
        outputs = await orchestrator.execute(transaction, DATA)
        status = await orchestrator.get_execution_status(transaction.transaction_id)

    assert outputs == {"slow": {"step": "slow", "attempt": 5}}
    calls = agent.calls_of("do-slow")
    assert [c.ctx.attempt for c in calls] == [1, 2, 3, 4, 5]
    assert {c.ctx.idempotency_key for c in calls} == {f"{transaction.transaction_id}/slow"}
    assert status.steps["slow"].dispatches == 1
    assert (status.steps["slow"].duration_ms or 0) >= 4 * 600_000  # workflow time


async def test_status_is_live_while_running_and_kept_once_finished(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b"])
    transaction = SagaTransaction(name="report", steps=[agent.step("a"), agent.step("b", "a")])
    release = agent.gate("do:b")
    async with saga_worker(client, unique, agent) as orchestrator:
        await orchestrator.start(transaction, DATA)
        running = await saga_status(
            orchestrator,
            transaction.transaction_id,
            lambda s: s.steps["b"].state == StepState.RUNNING,
        )
        running_attribute = await search_state(client, transaction)
        release.set()
        await orchestrator.execute(transaction, DATA)
        finished = await orchestrator.get_execution_status(transaction.transaction_id)

    assert running.state == SagaState.RUNNING
    assert running_attribute == "RUNNING"
    assert running.transaction_id == transaction.transaction_id
    assert running.name == "report"
    assert running.completed_steps == ["a"]
    assert running.steps["a"].duration_ms is not None
    assert running.steps["b"].started_at is not None and running.steps["b"].completed_at is None
    assert finished.state == SagaState.COMPLETED
    assert finished.completed_steps == ["a", "b"]
    assert finished.failed_step is None and finished.errors == []
    assert finished.duration_ms is not None and finished.completed_at is not None
    assert all(s.duration_ms is not None for s in finished.steps.values())
    assert await search_state(client, transaction) == "COMPLETED"


async def test_executing_the_same_transaction_again_does_not_run_it_again(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b"])
    transaction = SagaTransaction(steps=[agent.step("a"), agent.step("b", "a")])
    failing = SagaTransaction(steps=[agent.step("a"), agent.step("b", "a")])
    async with saga_worker(client, unique, agent) as orchestrator:
        together = await asyncio.gather(
            orchestrator.start(transaction, DATA), orchestrator.start(transaction, DATA)
        )
        first = await orchestrator.execute(transaction, DATA)
        again = await orchestrator.execute(transaction, DATA)
        assert agent.entries("do:") == ["a", "b"]

        agent.broken.add("do:b")
        with pytest.raises(SagaError):
            await orchestrator.execute(failing, DATA)
        with pytest.raises(SagaError) as info:
            await orchestrator.execute(failing, DATA)

    assert together[0].result_run_id is not None
    assert together[0].result_run_id == together[1].result_run_id
    assert first == again == {"a": {"step": "a", "attempt": 1}, "b": {"step": "b", "attempt": 1}}
    assert agent.entries("do:") == ["a", "b", "a", "b"]
    assert agent.entries("undo:") == ["a"]
    assert isinstance(info.value.execution, SagaExecution)
    assert info.value.execution.state == SagaState.COMPENSATED


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_each_real_event_once_even_when_history_is_replayed(
    client: Client, unique: str
) -> None:
    ok_step, fail_step = f"ok-{unique}", f"fail-{unique}"  # label values of this test only
    agent = SagaAgent(f"agent-{unique}", [ok_step, fail_step])
    good = SagaTransaction(steps=[agent.step(ok_step)])
    bad = SagaTransaction(steps=[agent.step(ok_step), agent.step(fail_step, ok_step)])
    agent.broken.add(f"do:{fail_step}")
    before = {
        "completed": sample("saga_executions_total", status="COMPLETED"),
        "compensated": sample("saga_executions_total", status="COMPENSATED"),
        "ok": sample("saga_steps_total", step_name=ok_step, status="completed"),
        "failed": sample("saga_steps_total", step_name=fail_step, status="failed"),
        "compensations": sample("saga_compensations_total"),
        "durations": sample("saga_duration_ms_count"),
    }
    settings = Settings(task_queue=f"orch-{unique}")
    # No workflow cache: every workflow task replays the whole history first.
    uncached = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[SagaWorkflow],
        max_cached_workflows=0,
    )
    async with agent.running(client), uncached:
        orchestrator = SagaOrchestrator(client=client, settings=settings, config=SagaConfig())
        await orchestrator.execute(good, DATA)
        with pytest.raises(SagaError):
            await orchestrator.execute(bad, DATA)
        for transaction in (good, bad):  # queries replay the finished histories again
            await orchestrator.get_execution_status(transaction.transaction_id)

    assert sample("saga_executions_total", status="COMPLETED") - before["completed"] == 1
    assert sample("saga_executions_total", status="COMPENSATED") - before["compensated"] == 1
    assert sample("saga_steps_total", step_name=ok_step, status="completed") - before["ok"] == 2
    assert sample("saga_steps_total", step_name=fail_step, status="failed") - before["failed"] == 1
    assert sample("saga_compensations_total") - before["compensations"] == 1
    assert sample("saga_duration_ms_count") - before["durations"] == 2
