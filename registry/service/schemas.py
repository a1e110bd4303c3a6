"""Request and response bodies of the registry service that are not registry models already.

Agents travel as :class:`~registry.models.AgentDescriptor` (in) and
:class:`~registry.records.RegisteredAgent` (out), rules as
:class:`~registry.router.RouteRule`, loads as :class:`~registry.routing.LoadInfo`: the wire
format is the library's own models, so the client returns exactly what the in-process
registry returns.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bus.message import Message
from registry.models import ServiceType
from registry.routing import RoutingStrategy

__all__ = [
    "MAX_DISCOVERY_RESULTS",
    "MAX_HEARTBEAT_BATCH",
    "MAX_REGISTRATION_BATCH",
    "DiscoverRequest",
    "ErrorBody",
    "ErrorCode",
    "HealthBody",
    "HeartbeatAccepted",
    "HeartbeatBatchResult",
    "HeartbeatItem",
    "Problem",
    "RejectedHeartbeat",
    "RouteDecision",
    "RouteRequestBody",
]

MAX_HEARTBEAT_BATCH = 10_000
"""Most heartbeats one ``POST /heartbeats`` may carry."""
MAX_REGISTRATION_BATCH = 1_000
"""Most agents one ``POST /agents/batch`` may register."""
MAX_DISCOVERY_RESULTS = 1_000
"""Largest ``max_results`` a discovery request may ask for."""

ErrorCode = Literal[
    "agent_not_found",
    "invalid_request",
    "method_not_allowed",
    "no_route",
    "not_found",
    "unauthorized",
    "unavailable",
    "internal",
]


class Problem(BaseModel):
    """One thing wrong with a request: the field (``body.agent_id``) and what is wrong."""

    field: str
    problem: str


class ErrorBody(BaseModel):
    """The one shape of every error answer.

    Attributes:
        error: one line saying what went wrong and what to do.
        code: a stable, machine-readable kind (``agent_not_found``, ``invalid_request``...).
        problems: for 422 answers, one entry per invalid field.
    """

    error: str
    code: ErrorCode
    problems: list[Problem] = Field(default_factory=list)


class HealthBody(BaseModel):
    status: Literal["ok"] = "ok"


class HeartbeatAccepted(BaseModel):
    """A heartbeat is in the registry's write buffer (written with the next batch)."""

    agent_id: str
    status: Literal["accepted"] = "accepted"


class HeartbeatItem(BaseModel):
    """One heartbeat of a batch. Any id is accepted here: unknown ones are reported back."""

    model_config = ConfigDict(extra="forbid")

    agent_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    metrics: dict[str, Any] | None = None


class RejectedHeartbeat(BaseModel):
    """A heartbeat of a batch whose metrics were invalid (nothing recorded for it)."""

    agent_id: str
    error: str
    problems: list[Problem] = Field(default_factory=list)


class HeartbeatBatchResult(BaseModel):
    """What became of each heartbeat of a batch, in request order within each list.

    Attributes:
        accepted: agents whose heartbeat is in the write buffer.
        unknown: ids that are not registered (those agents should register again).
        rejected: heartbeats with invalid metrics.
    """

    accepted: list[str] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)
    rejected: list[RejectedHeartbeat] = Field(default_factory=list)


class DiscoverRequest(BaseModel):
    """The arguments of ``AgentRegistry.discover`` (see there for their meaning)."""

    model_config = ConfigDict(extra="forbid")

    capabilities: list[str] | None = None
    service_types: list[ServiceType] | None = None
    tags: list[str] | None = None
    version_constraint: Annotated[str, StringConstraints(max_length=200)] | None = None
    min_health_score: float = Field(default=0.0, ge=0.0, le=1.0)
    location_preference: Annotated[str, StringConstraints(max_length=200)] | None = None
    max_results: int = Field(default=10, ge=1, le=MAX_DISCOVERY_RESULTS)


class RouteRequestBody(BaseModel):
    """A message to route, and optionally a strategy overriding the matching rule's."""

    model_config = ConfigDict(extra="forbid")

    message: Message
    strategy: RoutingStrategy | None = None


class RouteDecision(BaseModel):
    """The agents the message should go to (one, or several for BROADCAST)."""

    targets: list[str]
