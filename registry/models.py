"""Value types describing agents. Pure models: workflows may import this module."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "AGENT_ID_PATTERN",
    "AgentDescriptor",
    "AgentId",
    "AgentStatus",
    "Name",
    "ServiceType",
    "task_queue_for",
]

AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,199}$"
AgentId = Annotated[str, StringConstraints(pattern=AGENT_ID_PATTERN)]
"""1-200 characters: letters, digits and ``. _ : -``, starting with a letter or digit."""
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")]
"""A capability, action or tag name: 1-128 characters of letters, digits and ``. _ -``."""

_TEMPORAL_SCHEME = "temporal://"
_VERSION = re.compile(r"^\d+(\.\d+){0,3}([.+\-]?[0-9A-Za-z][0-9A-Za-z.+\-]*)?$")


def task_queue_for(agent_id: str, endpoint: str | None = None) -> str:
    """The Temporal task queue an agent polls.

    It is the agent's id unless its endpoint names another queue (``temporal://<queue>``).
    Any Temporal worker polling that queue with activities named after the agent's actions
    *is* that agent: this is the whole contract.
    """
    if endpoint and endpoint.startswith(_TEMPORAL_SCHEME):
        queue = endpoint[len(_TEMPORAL_SCHEME) :].strip("/")
        if queue:
            return queue
    return agent_id


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
        if value is not None and value.startswith(_TEMPORAL_SCHEME):
            queue = value[len(_TEMPORAL_SCHEME) :].strip("/")
            if not queue or len(queue) > 200:
                raise ValueError("temporal:// must be followed by a task queue name")
        return value

    @property
    def task_queue(self) -> str:
        return task_queue_for(self.agent_id, self.endpoint)
