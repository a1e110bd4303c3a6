"""Models that workflows take and return, and that activities receive.

Every workflow takes one model argument, so the temporal CLI can start it from JSON.
Durations are integers in milliseconds, as in the quick reference.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from temporalio.common import RetryPolicy

from registry.models import AgentId, Name

__all__ = [
    "MAX_TIMEOUT_MS",
    "MIN_TIMEOUT_MS",
    "ActionRequest",
    "AgentTaskInput",
    "AgentTaskResult",
    "RetrySpec",
]

MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000
"""Longest timeout accepted for one action: a week."""
MIN_TIMEOUT_MS = 100
"""Shortest timeout accepted for an action, a stage or a saga: less cannot cover one round trip
through Temporal to an agent, so every attempt would time out."""


class RetrySpec(BaseModel):
    """A JSON-friendly Temporal retry policy."""

    model_config = ConfigDict(extra="forbid")

    maximum_attempts: int = Field(default=3, ge=0, le=10_000, description="0 means unlimited")
    initial_interval_ms: int = Field(default=1_000, ge=1, le=3_600_000)
    backoff_coefficient: float = Field(default=2.0, ge=1.0, le=100.0)
    maximum_interval_ms: int = Field(default=60_000, ge=1, le=24 * 3_600_000)
    non_retryable_error_types: list[str] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _intervals(self) -> RetrySpec:
        if self.maximum_interval_ms < self.initial_interval_ms:
            raise ValueError(
                f"maximum_interval_ms ({self.maximum_interval_ms}) is shorter than "
                f"initial_interval_ms ({self.initial_interval_ms})"
            )
        return self

    def to_temporal(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(milliseconds=self.initial_interval_ms),
            backoff_coefficient=self.backoff_coefficient,
            maximum_interval=timedelta(milliseconds=self.maximum_interval_ms),
            maximum_attempts=self.maximum_attempts,
            non_retryable_error_types=self.non_retryable_error_types or None,
        )


class ActionRequest(BaseModel):
    """What an agent's action receives: the data, and the key that makes it idempotent."""

    data: Any = None
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    caller: str | None = Field(default=None, description="The workflow id that asked.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="Extra inputs, e.g. the outputs of earlier steps."
    )


class AgentTaskInput(BaseModel):
    """Input of ``AgentTaskWorkflow``: one action on one agent, durably."""

    model_config = ConfigDict(extra="forbid")

    agent_id: AgentId
    action: Name
    data: Any = None
    endpoint: str | None = Field(default=None, description="temporal://<queue> to override")
    timeout_ms: int = Field(default=60_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


class AgentTaskResult(BaseModel):
    """Result of ``AgentTaskWorkflow``."""

    agent_id: str
    action: str
    output: Any = None
    idempotency_key: str
