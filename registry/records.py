"""Value types of the registry: heartbeat metrics, and an agent as the registry reports it."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from orchestration.core.exceptions import ValidationError
from registry.models import AgentDescriptor, AgentStatus

__all__ = [
    "HealthCheckSummary",
    "HeartbeatMetrics",
    "HeartbeatSample",
    "PendingSamples",
    "RegisteredAgent",
    "StatusChange",
]

# field -> (lowest, highest) accepted value; None means unbounded.
_METRIC_BOUNDS: dict[str, tuple[float, float | None]] = {
    "cpu_usage": (0.0, 1.0),
    "error_rate": (0.0, 1.0),
    "response_time_ms": (0.0, None),
}


class HeartbeatMetrics(BaseModel):
    """What an agent reported in its last heartbeat. A metric it did not report is None.

    Attributes:
        cpu_usage: fraction of CPU in use, 0..1.
        error_rate: fraction of recent requests that failed, 0..1.
        response_time_ms: recent mean response time in milliseconds, >= 0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_usage: float | None = Field(default=None, ge=0.0, le=1.0)
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    response_time_ms: float | None = Field(default=None, ge=0.0)

    @classmethod
    def from_mapping(cls, metrics: Mapping[str, Any] | None) -> HeartbeatMetrics:
        """Validate a heartbeat payload such as ``{"cpu_usage": 0.45, "error_rate": 0.01}``.

        Missing metrics are None (they do not lower the health score). Keys other than
        ``cpu_usage``, ``error_rate`` and ``response_time_ms`` are ignored, so agents may send
        more than the registry uses.

        Raises:
            ValidationError: a metric is not a finite number or is out of range; ``errors``
                names each such field.
        """
        if metrics is None:
            return cls()
        if not isinstance(metrics, Mapping):
            problem = f"must be a mapping of metric names to numbers (got {type(metrics).__name__})"
            raise ValidationError.about("metrics", problem)
        values: dict[str, float] = {}
        errors: list[dict[str, str]] = []
        for name, (lowest, highest) in _METRIC_BOUNDS.items():
            if name not in metrics or metrics[name] is None:
                continue
            value = metrics[name]
            # bool is an int subclass, but True is not a CPU reading.
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                errors.append({"field": name, "problem": "must be a number"})
                continue
            number = float(value)
            if not math.isfinite(number):
                errors.append({"field": name, "problem": "must be finite"})
            elif number < lowest or (highest is not None and number > highest):
                bounds = f"between {lowest:g} and {highest:g}" if highest is not None else ">= 0"
                errors.append({"field": name, "problem": f"must be {bounds} (got {value!r})"})
            else:
                values[name] = number
        if errors:
            summary = "; ".join(f"{e['field']} {e['problem']}" for e in errors)
            raise ValidationError(f"invalid heartbeat metrics: {summary}", errors=errors)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class HeartbeatSample:
    """The latest heartbeat of one agent, with how many heartbeats it stands for.

    The registry coalesces the heartbeats an agent sends between two flushes into one sample:
    the newest metrics and time, and the number of heartbeats received.
    """

    metrics: HeartbeatMetrics
    at: datetime
    count: int = 1


class RegisteredAgent(BaseModel):
    """An agent as the registry sees it now: its descriptor and its health at read time.

    Attributes:
        descriptor: what the agent declared when it registered.
        status: the lifecycle status computed at read time (see :mod:`registry.health`).
        health_score: 0..1, computed at read time from the last heartbeat and its age.
        location: the agent's location (``metadata["location"]`` or its first region tag).
        registered_at: when the agent first registered.
        last_heartbeat_at: when its last heartbeat arrived; None before the first one.
        metrics: the values of its last heartbeat; None before the first one.
        heartbeat_count: heartbeats received since it first registered.
    """

    model_config = ConfigDict(frozen=True)

    descriptor: AgentDescriptor
    status: AgentStatus
    health_score: float = Field(ge=0.0, le=1.0)
    location: str | None = None
    registered_at: datetime
    last_heartbeat_at: datetime | None = None
    metrics: HeartbeatMetrics | None = None
    heartbeat_count: int = 0

    @property
    def agent_id(self) -> str:
        return self.descriptor.agent_id


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One agent's status moving from ``old`` to ``new``, with the health that caused it."""

    agent_id: str
    old: AgentStatus
    new: AgentStatus
    health: float


@dataclass(frozen=True, slots=True)
class HealthCheckSummary:
    """What one pass of the health checker saw and did.

    Attributes:
        checked: agents evaluated.
        statuses: how many agents are in each status after the pass (evicted agents excluded).
        changes: status changes written.
        deregistered: ids of the agents evicted for silence.
        silent: agents silent for more than three heartbeat intervals.
        eviction_paused: True when self-preservation held back eviction in this pass.
    """

    checked: int
    statuses: dict[AgentStatus, int]
    changes: tuple[StatusChange, ...]
    deregistered: tuple[str, ...]
    silent: int
    eviction_paused: bool


class PendingSamples(Protocol):
    """Where reads find an agent's newest heartbeat not yet in its row; iterating it gives
    the ids of the agents that have one."""

    def get(self, agent_id: str) -> HeartbeatSample | None: ...

    def __iter__(self) -> Iterator[str]: ...
