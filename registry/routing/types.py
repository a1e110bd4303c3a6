"""Value types of the message router's routing policies.

Pure data: no I/O, no clocks. ``LoadInfo`` is public (the quick reference builds it); the other
types are what the router hands to a strategy on every decision, so they are slotted frozen
dataclasses that are cheap to build.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from pydantic import BaseModel, ConfigDict, Field

from orchestration.core.exceptions import ValidationError
from orchestration.core.routing import RoutingStrategy
from orchestration.core.validation import AgentId

__all__ = [
    "PROCESSING_TIME_REFERENCE_MS",
    "Candidate",
    "LoadInfo",
    "Priority",
    "RouteRequest",
    "RoutingStrategy",
]

PROCESSING_TIME_REFERENCE_MS = 1000.0
"""Processing time at which the latency term of :attr:`LoadInfo.load_score` reaches 0.5."""

_ERROR_RATE_WEIGHT = 2.0


def _rejected(field: str, value: object, problem: str) -> ValidationError:
    """The error for a setting or field of this package that cannot work (package-private)."""
    return ValidationError(
        f"{field} {problem}, got {value!r}", errors=[{"field": field, "problem": problem}]
    )


class Priority(IntEnum):
    """Message priority as the router sees it: lower is more urgent."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


class LoadInfo(BaseModel):
    """The load an agent last reported.

    Example:
        ``LoadInfo(agent_id="agent-1", message_queue_size=25, processing_time_ms=200,
        error_rate=0.02, capacity=100)``

    Attributes:
        agent_id: the agent the figures belong to.
        message_queue_size: messages waiting in the agent's queue.
        processing_time_ms: recent mean time to process one message.
        error_rate: recent fraction of messages that failed, in [0, 1].
        capacity: how many queued messages the agent accepts before it counts as full.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_id: AgentId
    message_queue_size: int = Field(ge=0)
    processing_time_ms: float = Field(ge=0, allow_inf_nan=False)
    error_rate: float = Field(ge=0, le=1)
    capacity: int = Field(ge=1)

    @property
    def utilisation(self) -> float:
        """Queue size over capacity: 0 is idle, 1 is full, above 1 is overloaded."""
        return self.message_queue_size / self.capacity

    @property
    def spare_capacity(self) -> int:
        """Capacity minus queue size; negative when the agent is overloaded."""
        return self.capacity - self.message_queue_size

    @property
    def load_score(self) -> float:
        """One number to compare agents by; lower is better, 0 is an idle, fast, faultless agent.

        ``utilisation + 2 * error_rate + t / (t + 1000)`` with ``t`` the processing time in
        milliseconds. Each term grows with what it measures: a full queue adds 1, an agent
        failing half its messages counts like a full queue, and the latency term saturates
        below 1 (200 ms adds 0.17, 1 s adds 0.5) so one slow report cannot dominate the queue.
        """
        t = self.processing_time_ms
        return (
            self.message_queue_size / self.capacity
            + _ERROR_RATE_WEIGHT * self.error_rate
            + t / (t + PROCESSING_TIME_REFERENCE_MS)
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent a rule may route to, as the router sees it at decision time.

    The router passes only registered, healthy agents, in the rule's order of preference.
    Agent ids are unique within one decision.

    Attributes:
        agent_id: the agent.
        health: registry health in [0, 1]; 1 is fully healthy.
        load: the agent's last load report, or None when it has not reported yet.
        weight: the rule's weight for this agent (WEIGHTED); 0 takes it out of rotation.
        ejected: True while the outlier detector has the agent ejected (see
            :mod:`registry.routing.ejection`); FAILOVER skips such agents.

    Raises:
        orchestration.exceptions.ValidationError: health outside [0, 1], or a negative or
            infinite weight.
    """

    agent_id: str
    health: float = 1.0
    load: LoadInfo | None = None
    weight: float = 1.0
    ejected: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.health <= 1.0:
            raise _rejected("health", self.health, "must be in [0, 1]")
        if not (self.weight >= 0.0 and math.isfinite(self.weight)):
            raise _rejected("weight", self.weight, "must be finite and >= 0")


_HIGHEST = int(Priority.CRITICAL)
_LOWEST = int(Priority.LOW)


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """What a strategy needs to know about the message being routed.

    Attributes:
        rule: name of the routing rule that matched; strategies keep their state per rule.
        key: the affinity / hash key (the sender, or a payload field), or None.
        priority: 0 (CRITICAL) to 3 (LOW); see :class:`Priority`.

    Raises:
        orchestration.exceptions.ValidationError: the priority is outside 0-3.
    """

    rule: str
    key: str | None = None
    priority: int = Priority.NORMAL

    def __post_init__(self) -> None:
        if not _HIGHEST <= self.priority <= _LOWEST:  # plain ints: enum members cost per call
            raise _rejected("priority", self.priority, "must be 0 (CRITICAL) to 3 (LOW)")
