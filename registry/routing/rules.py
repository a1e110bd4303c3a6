"""Route rules: what a rule says, and the interfaces the router reads rules and health from."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from orchestration.core.validation import AgentId, Name
from registry.routing.types import RoutingStrategy

__all__ = ["HealthSource", "RouteRule", "RuleStore"]


class RouteRule(BaseModel):
    """A rule: messages matching ``condition`` go to ``targets`` by ``strategy``.

    Rules are tried in ``priority`` order (lower first). ``affinity_key`` names what AFFINITY
    and CONSISTENT_HASH hash: ``sender_id`` (the default), ``recipient_id``,
    ``correlation_id`` or ``payload.<field>``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    condition: Annotated[str, StringConstraints(max_length=1000)] | None = None
    targets: list[AgentId] = Field(min_length=1, max_length=1000)
    strategy: RoutingStrategy = RoutingStrategy.ROUND_ROBIN
    priority: int = Field(default=100, ge=0, le=1_000_000)
    affinity_key: Annotated[
        str,
        StringConstraints(
            pattern=r"^(sender_id|recipient_id|correlation_id|payload\.[A-Za-z0-9_\-]{1,100})$"
        ),
    ] = "sender_id"
    weights: dict[AgentId, float] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("targets")
    @classmethod
    def _unique_targets(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for agent_id, weight in value.items():
            if not 0 <= weight <= 1_000_000:
                raise ValueError(f"weight of {agent_id} must be between 0 and 1000000")
        return value


class HealthSource(Protocol):
    """What the router needs from a registry: the health now, by id, of those of its rules'
    targets that it may route to (ACTIVE or DEGRADED)."""

    async def routable_health(self, agent_ids: Collection[str]) -> Mapping[str, float]: ...


class RuleStore(Protocol):
    """Where rules live (the database); ``revision`` changes whenever any rule changes."""

    async def revision(self) -> int: ...

    async def load(self) -> tuple[int, list[RouteRule]]: ...

    async def save(self, rule: RouteRule) -> int: ...

    async def delete(self, name: str) -> int: ...
