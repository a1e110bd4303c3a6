"""Value types describing agents: who an agent is, what it offers, where it is in its life."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from orchestration.core.exceptions import ValidationError
from orchestration.core.validation import (
    KAFKA_SCHEME,
    TEMPORAL_SCHEME,
    AgentId,
    Name,
    check_call_endpoint,
    task_queue_for,
)

__all__ = ["AgentDescriptor", "AgentStatus", "ServiceType"]

_VERSION = re.compile(r"^\d+(\.\d+){0,3}([.+\-]?[0-9A-Za-z][0-9A-Za-z.+\-]*)?$")


class ServiceType(StrEnum):
    """What kind of service an agent provides."""

    COMPUTATION = "computation"
    VALIDATION = "validation"
    INTEGRATION = "integration"
    REPORTING = "reporting"
    MONITORING = "monitoring"
    COORDINATION = "coordination"
    STORAGE = "storage"
    ANALYSIS = "analysis"


class AgentStatus(StrEnum):
    """Where an agent is in its health lifecycle."""

    ACTIVE = "active"
    DEGRADED = "degraded"
    INACTIVE = "inactive"
    DEREGISTERED = "deregistered"

    @classmethod
    def parse(cls, status: AgentStatus | str) -> AgentStatus:
        """``status`` as a status, or a ValidationError naming ``status`` and the choices."""
        try:
            return cls(status)
        except ValueError:
            problem = f"must be one of {', '.join(s.value for s in cls)}"
            raise ValidationError.about("status", problem) from None


class AgentDescriptor(BaseModel):
    """Who an agent is and what it offers. Immutable; JSON-friendly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_id: AgentId
    agent_type: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    version: Annotated[str, StringConstraints(max_length=64)] = "0.1.0"
    capabilities: list[Name] = Field(default_factory=list, max_length=256)
    service_types: list[ServiceType] = Field(default_factory=list)
    endpoint: Annotated[str, StringConstraints(max_length=512)] | None = None
    tags: list[Name] = Field(default_factory=list, max_length=256)
    metadata: dict[str, Any] = Field(default_factory=dict)
    max_concurrency: int | None = Field(default=None, ge=1, le=100_000)
    """At most this many of its actions at once in one agent process (its worker's
    concurrent-activity limit); None: the agent's own default (100)."""
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=1_000_000)
    """At most this many actions started per second across all its processes (Temporal's
    task-queue rate limit, which holds across replicas); None: no limit."""

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("must be a version such as 2.1.0 or 1.0.0-rc1")
        return value

    @field_validator("capabilities", "tags")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError("must be a URL such as temporal://agent-queue or tcp://host:5000")
        if value is not None and value.startswith((TEMPORAL_SCHEME, KAFKA_SCHEME)):
            return check_call_endpoint(value)
        return value

    @property
    def task_queue(self) -> str:
        return task_queue_for(self.agent_id, self.endpoint)
