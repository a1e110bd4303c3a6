"""SagaOrchestrator refuses invalid definitions before anything starts."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import SagaError, ValidationError
from orchestration.core.settings import Settings
from workflows.saga_models import SagaState, SagaStep, SagaTransaction, StepState


@pytest.fixture
def client(temporal_time_skipping_env: WorkflowEnvironment) -> Client:
    return temporal_time_skipping_env.client


@pytest.fixture
def orchestrator(client: Client, unique: str) -> SagaOrchestrator:
    return SagaOrchestrator(client=client, settings=Settings(task_queue=f"orch-{unique}"))


def valid_transaction() -> SagaTransaction:
    return SagaTransaction(
        steps=[
            SagaStep("a", "agent-1", "act", compensation="undo"),
            SagaStep("b", "agent-1", "act", depends_on=["a"]),
        ]
    )


async def assert_not_started(client: Client, transaction_id: str) -> None:
    with pytest.raises(RPCError) as info:
        await client.get_workflow_handle(transaction_id).describe()
    assert info.value.status == RPCStatusCode.NOT_FOUND


async def refused(orchestrator: SagaOrchestrator, transaction: SagaTransaction) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        await orchestrator.execute(transaction, {"x": 1})
    await assert_not_started(orchestrator.client, transaction.transaction_id)
    return info.value


async def test_a_transaction_made_invalid_after_it_was_built_is_refused_naming_the_field(
    orchestrator: SagaOrchestrator,
) -> None:
    transaction = valid_transaction()
    transaction.timeout_ms = 0
    error = await refused(orchestrator, transaction)
    assert [e["field"] for e in error.errors] == ["timeout_ms"]
    assert "timeout_ms" in str(error)
    assert isinstance(error, ValueError)  # callers may catch it as a plain ValueError too


async def test_an_added_duplicate_step_is_refused_naming_the_steps(
    orchestrator: SagaOrchestrator,
) -> None:
    transaction = valid_transaction()
    transaction.steps.append(SagaStep("a", "agent-2", "other"))
    error = await refused(orchestrator, transaction)
    assert [e["field"] for e in error.errors] == ["steps"]
    assert "repeated: a" in str(error)


async def test_a_cycle_is_refused_naming_the_steps_and_the_cycle(
    orchestrator: SagaOrchestrator,
) -> None:
    transaction = SagaTransaction.model_construct(
        steps=[
            SagaStep("a", "agent-1", "act", depends_on=["b"]),
            SagaStep("b", "agent-1", "act", depends_on=["a"]),
        ],
        transaction_id="saga-cycle-" + valid_transaction().transaction_id[5:],
    )
    error = await refused(orchestrator, transaction)
    assert [e["field"] for e in error.errors] == ["steps"]
    assert "dependency cycle: a -> b -> a" in str(error)


async def test_an_invalid_step_field_is_named_with_its_position(
    orchestrator: SagaOrchestrator,
) -> None:
    transaction = valid_transaction()
    transaction.steps[1] = transaction.steps[1].model_copy(update={"timeout_ms": -1})
    error = await refused(orchestrator, transaction)
    assert [e["field"] for e in error.errors] == ["steps.1.timeout_ms"]


async def test_the_status_of_an_unknown_saga_is_a_saga_error(
    orchestrator: SagaOrchestrator, unique: str
) -> None:
    with pytest.raises(SagaError, match=f"no saga with transaction id 'saga-{unique}'"):
        await orchestrator.get_execution_status(f"saga-{unique}")


async def test_an_orchestrator_must_be_initialized_before_use() -> None:
    orchestrator = SagaOrchestrator(settings=Settings())
    with pytest.raises(SagaError, match="initialize"):
        await orchestrator.execute(valid_transaction())


async def test_a_saga_no_worker_picked_up_yet_is_pending(
    temporal_client: Client, unique: str
) -> None:
    orchestrator = SagaOrchestrator(
        client=temporal_client, settings=Settings(task_queue=f"nobody-polls-{unique}")
    )
    transaction = valid_transaction()
    handle = await orchestrator.start(transaction, {"x": 1})
    try:
        status = await orchestrator.get_execution_status(transaction.transaction_id)
    finally:
        await handle.terminate()
    assert status.state == SagaState.PENDING
    assert status.transaction_id == transaction.transaction_id
    assert status.name == transaction.name
    assert {name: s.state for name, s in status.steps.items()} == {
        "a": StepState.PENDING,
        "b": StepState.PENDING,
    }
