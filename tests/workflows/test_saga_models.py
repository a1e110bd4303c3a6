"""Saga definitions are validated when built: an invalid one never reaches Temporal."""

from __future__ import annotations

import pydantic
import pytest

from orchestration.core.retry import RetrySpec
from orchestration.core.settings import SagaConfig
from workflows.saga_models import (
    CompensationStrategy,
    SagaInput,
    SagaStep,
    SagaTransaction,
    find_cycle,
)


def step(name: str, *depends_on: str, **extra: object) -> SagaStep:
    return SagaStep(name, "agent-1", f"do-{name}", depends_on=list(depends_on), **extra)


def test_the_positional_form_of_the_quick_reference_works() -> None:
    built = SagaStep("step1", "agent-1", "action1", compensation="comp1", depends_on=["step0"])
    assert (built.name, built.agent_id, built.action) == ("step1", "agent-1", "action1")
    assert built.compensation == "comp1"
    assert built.depends_on == ["step0"]
    assert built == SagaStep(
        name="step1", agent_id="agent-1", action="action1", compensation="comp1",
        depends_on=["step0"],
    )  # fmt: skip


def test_a_field_given_positionally_and_by_keyword_is_refused() -> None:
    with pytest.raises(TypeError, match="name"):
        SagaStep("a", "agent-1", "act", name="b")


def test_the_quick_reference_transaction_builds_with_its_dependencies() -> None:
    transaction = SagaTransaction(
        steps=[
            SagaStep("step1", "agent-1", "action1", compensation="comp1"),
            SagaStep("step2", "agent-2", "action2", compensation="comp2", depends_on=["step1"]),
            SagaStep(
                "step3", "agent-3", "action3", compensation="comp3", depends_on=["step1", "step2"]
            ),
        ]
    )
    assert transaction.compensation_strategy == CompensationStrategy.BACKWARD
    assert transaction.step("step3").depends_on == ["step1", "step2"]
    assert transaction.transaction_id.startswith("saga-")
    assert SagaTransaction(steps=[step("a")]).transaction_id != transaction.transaction_id


def test_a_dependency_cycle_is_refused_naming_the_cycle() -> None:
    # Each step depends on the next: b needs d, d needs c, c needs b.
    with pytest.raises(pydantic.ValidationError, match="dependency cycle: b -> d -> c -> b"):
        SagaTransaction(steps=[step("a"), step("b", "a", "d"), step("c", "b"), step("d", "c")])


def test_a_step_depending_on_itself_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="'a' depends on itself"):
        SagaTransaction(steps=[step("a", "a")])


def test_a_dependency_on_an_unknown_step_is_refused_naming_both() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"'b' depends on unknown step.*: ghost"):
        SagaTransaction(steps=[step("a"), step("b", "a", "ghost")])


def test_duplicate_step_names_are_refused_naming_them() -> None:
    with pytest.raises(pydantic.ValidationError, match="unique; repeated: a"):
        SagaTransaction(steps=[step("a"), step("b"), step("a")])


def test_a_transaction_needs_at_least_one_step() -> None:
    with pytest.raises(pydantic.ValidationError, match="steps"):
        SagaTransaction(steps=[])


@pytest.mark.parametrize("timeout_ms", [0, -1, 8 * 24 * 3600 * 1000])
def test_a_step_timeout_must_be_positive_and_at_most_a_week(timeout_ms: int) -> None:
    with pytest.raises(pydantic.ValidationError, match="timeout_ms"):
        step("a", timeout_ms=timeout_ms)


@pytest.mark.parametrize("timeout_ms", [0, -5, 31 * 24 * 3600 * 1000])
def test_a_saga_timeout_must_be_positive_and_at_most_thirty_days(timeout_ms: int) -> None:
    with pytest.raises(pydantic.ValidationError, match="timeout_ms"):
        SagaTransaction(steps=[step("a")], timeout_ms=timeout_ms)


def test_a_retry_policy_whose_maximum_interval_is_below_its_initial_one_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="maximum_interval_ms"):
        step("a", retry_policy={"initial_interval_ms": 10_000, "maximum_interval_ms": 1_000})
    with pytest.raises(pydantic.ValidationError, match="backoff_coefficient"):
        step("a", retry_policy=RetrySpec.model_construct(backoff_coefficient=0.5).model_dump())


def test_invalid_names_and_unknown_fields_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="name"):
        step("has space")
    with pytest.raises(pydantic.ValidationError, match="compensate"):
        SagaStep("a", "agent-1", "act", compensate="undo")


def test_repeated_dependencies_collapse_in_order() -> None:
    assert step("c", "a", "b", "a").depends_on == ["a", "b"]


def test_saga_config_history_cannot_be_turned_off() -> None:
    with pytest.raises(pydantic.ValidationError, match="cannot be turned off"):
        SagaConfig(enable_event_sourcing=False)
    with pytest.raises(pydantic.ValidationError, match="forward_recovery_attempts"):
        SagaConfig(forward_recovery_attempts=-1)


def test_find_cycle_returns_none_for_a_dag_and_ignores_unknown_names() -> None:
    diamond = [step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c", "elsewhere")]
    assert find_cycle(diamond) is None
    assert find_cycle([step("x", "y"), step("y", "x")]) in (["x", "y", "x"], ["y", "x", "y"])


def test_a_saga_input_round_trips_through_json_for_the_cli() -> None:
    saga = SagaInput(
        transaction=SagaTransaction(
            name="report",
            steps=[step("a", compensation="undo-a"), step("b", "a", is_pivot=True)],
            compensation_strategy=CompensationStrategy.CASCADE,
            timeout_ms=60_000,
        ),
        initial_data={"year": 2024},
    )
    assert SagaInput.model_validate_json(saga.model_dump_json()) == saga
