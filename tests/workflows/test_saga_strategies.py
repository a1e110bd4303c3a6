"""Each compensation strategy undoes completed steps in its own order.

Every DAG here completes its steps in an order that differs from their declaration order
(the test holds steps back with gates), so an implementation that compensates by
declaration order fails.
"""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import SagaCompensationError, SagaError
from orchestration.core.settings import SagaConfig
from tests.workflows.saga_support import SagaAgent, saga_status, saga_worker
from workflows.saga_models import (
    CompensationStrategy,
    SagaExecution,
    SagaState,
    SagaTransaction,
    StepState,
)

DATA = {"order": 42}


@pytest.fixture
def client(temporal_time_skipping_env: WorkflowEnvironment) -> Client:
    return temporal_time_skipping_env.client


async def release_after(
    orchestrator: SagaOrchestrator,
    transaction: SagaTransaction,
    agent: SagaAgent,
    held: str,
    *first: str,
) -> None:
    """Let held step ``held`` complete once the saga saw steps ``first`` complete."""
    await saga_status(
        orchestrator,
        transaction.transaction_id,
        lambda status: all(name in status.completed_steps for name in first),
    )
    agent.gates[f"do:{held}"].set()


async def failure_of(orchestrator: SagaOrchestrator, transaction: SagaTransaction) -> SagaError:
    """Execute the (already started) saga, attaching to its run, and return its error."""
    with pytest.raises(SagaError) as info:
        await orchestrator.execute(transaction, DATA)
    return info.value


def execution_of(error: SagaError) -> SagaExecution:
    assert isinstance(error.execution, SagaExecution), error
    return error.execution


async def test_backward_undoes_one_at_a_time_in_reverse_order_of_completion(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "c", "fail"])
    # a, b, c are independent; they complete c, a, b; "fail" needs all three.
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("b"), agent.step("c"), agent.step("fail", "a", "b", "c")]
    )
    agent.broken.add("do:fail")
    agent.hold("do:a", "do:b")
    async with saga_worker(client, unique, agent) as orchestrator:
        await orchestrator.start(transaction, DATA)
        await release_after(orchestrator, transaction, agent, "a", "c")
        await release_after(orchestrator, transaction, agent, "b", "a")
        error = await failure_of(orchestrator, transaction)

    assert type(error) is SagaError
    execution = execution_of(error)
    assert execution.completed_steps == ["c", "a", "b"]
    assert agent.entries("undo:") == ["b", "a", "c"]
    # One at a time: each compensation completed before the next started.
    undo_log = [e for e in agent.log if e.startswith(("undo:", "undone:"))]
    assert undo_log == ["undo:b", "undone:b", "undo:a", "undone:a", "undo:c", "undone:c"]
    assert execution.state == SagaState.COMPENSATED
    assert execution.compensated_steps == ["b", "a", "c"]
    assert execution.failed_step == "fail"
    assert execution.steps["fail"].state == StepState.FAILED
    assert "can never work" in (execution.steps["fail"].error or "")
    assert execution.uncompensated_steps == [] and not execution.manual_intervention_required


async def test_forward_retries_the_failed_step_and_the_saga_completes(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "c"])
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("b", "a"), agent.step("c", "b")],
        compensation_strategy=CompensationStrategy.FORWARD,
    )
    agent.failures["b"] = 4  # FAST_RETRY makes 2 attempts per dispatch: 3 dispatches
    config = SagaConfig(forward_recovery_attempts=2)
    async with saga_worker(client, unique, agent, config=config) as orchestrator:
        outputs = await orchestrator.execute(transaction)
        status = await orchestrator.get_execution_status(transaction.transaction_id)

    assert sorted(outputs) == ["a", "b", "c"]
    assert agent.entries("failed:") == ["b"] * 4
    assert agent.entries("undo:") == []
    assert status.state == SagaState.COMPLETED
    assert status.steps["b"].dispatches == 3
    assert status.completed_steps == ["a", "b", "c"]


async def test_forward_compensates_backward_once_its_retries_are_exhausted(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "c", "fail"])
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("b"), agent.step("c", "b"), agent.step("fail", "a")],
        compensation_strategy=CompensationStrategy.FORWARD,
    )
    agent.failures["fail"] = 1_000
    config = SagaConfig(forward_recovery_attempts=1)
    agent.hold("do:a", "do:c")
    async with saga_worker(client, unique, agent, config=config) as orchestrator:
        await orchestrator.start(transaction, DATA)
        await release_after(orchestrator, transaction, agent, "a", "b")
        # c is still running while "fail" is retried; it completes after the first failure.
        await agent.reached("failed:fail")
        agent.gates["do:c"].set()
        error = await failure_of(orchestrator, transaction)

    execution = execution_of(error)
    assert execution.steps["fail"].dispatches == 2
    assert agent.entries("failed:") == ["fail"] * 4  # 2 dispatches x 2 attempts
    assert execution.completed_steps == ["b", "a", "c"]
    assert agent.entries("undo:") == ["c", "a", "b"]
    assert execution.state == SagaState.COMPENSATED


async def test_parallel_undoes_everything_at_once(client: Client, unique: str) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "c", "fail"])
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("b", "a"), agent.step("c"), agent.step("fail", "b")],
        compensation_strategy=CompensationStrategy.PARALLEL,
    )
    agent.broken.add("do:fail")
    agent.gate("do:c")
    # Each compensation finishes only once all three started: sequential ones would fail.
    everyone = ["undo:a", "undo:b", "undo:c"]
    agent.after.update({entry: everyone for entry in everyone})
    async with saga_worker(client, unique, agent) as orchestrator:
        await orchestrator.start(transaction, DATA)
        await release_after(orchestrator, transaction, agent, "c", "b")
        error = await failure_of(orchestrator, transaction)

    execution = execution_of(error)
    assert execution.completed_steps == ["a", "b", "c"]
    assert sorted(agent.entries("undone:")) == ["a", "b", "c"]
    assert execution.state == SagaState.COMPENSATED
    assert sorted(execution.compensated_steps) == ["a", "b", "c"]


async def test_parallel_waits_for_every_compensation_and_parks_every_failure(
    temporal_client: Client, unique: str
) -> None:
    client = temporal_client  # parked: on the dev server (see test_saga_execution.py)
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "c", "fail"])
    transaction = SagaTransaction(
        steps=[agent.step("a"), agent.step("b"), agent.step("c"), agent.step("fail", "a", "b")],
        compensation_strategy=CompensationStrategy.PARALLEL,
    )
    agent.broken.update({"do:fail", "undo:a", "undo:c"})
    # b's compensation finishes only after the other two failed for good (two attempts each).
    agent.after["undo:b"] = ["undo-failed:a#2", "undo-failed:c#2"]
    config = SagaConfig(compensation_retry={"maximum_attempts": 2, "initial_interval_ms": 1})
    tx_id = transaction.transaction_id
    async with saga_worker(client, unique, agent, config=config) as orchestrator:
        with pytest.raises(SagaCompensationError) as info:
            await orchestrator.execute(transaction)
        parked = await saga_status(
            orchestrator, tx_id, lambda e: len(e.incidents) == 2 and e.compensated_steps == ["b"]
        )
        for step in ("a", "c"):
            await orchestrator.resolve(tx_id, step, "mark_compensated", by="ops", reason="by hand")
        with pytest.raises(SagaError) as ended:
            await orchestrator.execute(transaction)

    assert execution_of(info.value).state == SagaState.NEEDS_INTERVENTION
    assert info.value.uncompensated_steps in (("a",), ("c",), ("a", "c"), ("c", "a"))
    assert sorted(i.step for i in parked.incidents) == ["a", "c"]
    assert sorted(agent.entries("undo-failed:")) == ["a", "a", "c", "c"]
    assert "undone:b" in agent.log
    failures = [e for e in parked.errors if e.startswith("compensation of")]
    assert len(failures) == 2
    assert all("undoing" in f for f in failures)
    execution = execution_of(ended.value)
    assert execution.state == SagaState.COMPENSATED
    assert sorted(execution.compensated_steps) == ["a", "b", "c"]
    assert sorted(i.step for i in execution.interventions) == ["a", "c"]


async def test_cascade_undoes_dependents_first_and_independent_branches_concurrently(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "c", "d", "fail"])
    # a ──► b          d (independent, completes last)
    #  └──► c ──► fail
    transaction = SagaTransaction(
        steps=[
            agent.step("d"),
            agent.step("a"),
            agent.step("b", "a"),
            agent.step("c", "a"),
            agent.step("fail", "c"),
        ],
        compensation_strategy=CompensationStrategy.CASCADE,
    )
    agent.broken.add("do:fail")
    agent.hold("do:d", "do:fail")
    # d's compensation can only finish once a (on another branch) has been compensated:
    # impossible if compensations ran one at a time in reverse order of completion.
    agent.after["undo:d"] = ["undone:a"]
    async with saga_worker(client, unique, agent) as orchestrator:
        await orchestrator.start(transaction, DATA)
        await release_after(orchestrator, transaction, agent, "d", "b", "c")
        await release_after(orchestrator, transaction, agent, "fail", "d")
        error = await failure_of(orchestrator, transaction)

    execution = execution_of(error)
    assert execution.completed_steps[-1] == "d"
    assert set(execution.completed_steps) == {"a", "b", "c", "d"}
    log = agent.log
    # a is undone only after both its dependents were.
    assert log.index("undo:a") > log.index("undone:b")
    assert log.index("undo:a") > log.index("undone:c")
    assert log.index("undo:d") < log.index("undone:a") < log.index("undone:d")
    undone = execution.compensated_steps
    assert sorted(undone) == ["a", "b", "c", "d"]
    assert undone.index("a") > max(undone.index("b"), undone.index("c"))
    assert execution.state == SagaState.COMPENSATED


async def test_selective_undoes_only_what_the_failed_step_depends_on_newest_first(
    client: Client, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "root", "other", "fail"])
    # root ──► a ──┐
    #  └────► b ──┴► fail        other (independent)
    transaction = SagaTransaction(
        steps=[
            agent.step("root"),
            agent.step("a", "root"),
            agent.step("b", "root"),
            agent.step("other"),
            agent.step("fail", "a", "b"),
        ],
        compensation_strategy=CompensationStrategy.SELECTIVE,
    )
    agent.broken.add("do:fail")
    agent.hold("do:a", "do:other")
    async with saga_worker(client, unique, agent) as orchestrator:
        await orchestrator.start(transaction, DATA)
        await release_after(orchestrator, transaction, agent, "other", "root")
        await release_after(orchestrator, transaction, agent, "a", "b")
        error = await failure_of(orchestrator, transaction)

    execution = execution_of(error)
    assert execution.completed_steps.index("b") < execution.completed_steps.index("a")
    assert agent.entries("undo:") == ["a", "b", "root"]
    assert execution.committed_steps == ["other"]
    assert execution.steps["other"].state == StepState.COMPLETED
    assert execution.state == SagaState.COMPENSATED
