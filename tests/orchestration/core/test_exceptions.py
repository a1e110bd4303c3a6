from __future__ import annotations

import asyncio

import pytest

from orchestration.core.exceptions import (
    OrchestrationError,
    OrchestrationTimeoutError,
    PortInUseError,
    SagaCompensationError,
    SagaError,
    ValidationError,
)


def test_a_timeout_is_also_an_asyncio_timeout_error() -> None:
    with pytest.raises(asyncio.TimeoutError):
        raise OrchestrationTimeoutError("saga took too long", timeout_ms=5000)
    assert OrchestrationTimeoutError("x", timeout_ms=5).timeout_ms == 5
    assert OrchestrationTimeoutError("x").retriable


def test_port_in_use_names_the_port_and_the_setting() -> None:
    error = PortInUseError(9092, "ORCH_KAFKA_BOOTSTRAP_SERVERS", part="Kafka broker")
    assert error.port == 9092
    assert "9092" in str(error) and "ORCH_KAFKA_BOOTSTRAP_SERVERS" in str(error)
    assert "\n" not in str(error)


def test_compensation_error_carries_what_was_and_was_not_compensated() -> None:
    error = SagaCompensationError(
        "refund failed", compensated_steps=["b"], uncompensated_steps=["a"], details={"x": 1}
    )
    assert isinstance(error, SagaError)
    assert error.compensated_steps == ("b",)
    assert error.uncompensated_steps == ("a",)
    assert error.details == {"x": 1}
    assert not error.retriable


def test_validation_error_is_a_value_error_with_field_problems() -> None:
    error = ValidationError("bad", errors=[{"field": "steps", "problem": "empty"}])
    assert isinstance(error, ValueError) and isinstance(error, OrchestrationError)
    assert error.errors == ({"field": "steps", "problem": "empty"},)
