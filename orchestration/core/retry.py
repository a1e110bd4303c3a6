"""How long one call to an agent may take, and how it is retried: shared by every definition.

Durations are integers in milliseconds, as in the quick reference.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.common import RetryPolicy

__all__ = ["MAX_TIMEOUT_MS", "MIN_TIMEOUT_MS", "RetrySpec"]

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
