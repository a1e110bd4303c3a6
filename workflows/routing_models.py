"""Calls routed by capability: what a step asks for, and what the routing activity answers.

A step that names a ``capability`` instead of an ``agent_id`` is routed: the orchestration
worker's ``orchestration.route`` activity asks the registry for the agents with that
capability (version range, location preference, minimum health) and lets the router's
strategy pick one. Its answer is an activity result, so it is in the history and replay
never routes again.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from orchestration.core.routing import ROUTING_ERROR, RoutingStrategy
from orchestration.core.validation import AgentId, Name
from orchestration.core.versions import parse_constraint

__all__ = [
    "ROUTE_ACTIVITY",
    "ROUTING_ERROR",
    "Routable",
    "Route",
    "RouteChoice",
    "RouteQuery",
]

ROUTE_ACTIVITY = "orchestration.route"
"""Activity type of the routing decision, run by the orchestration worker itself."""

Location = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
RoutingKey = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class Route(BaseModel):
    """How a call finds its agent: by ``capability``, then the router's ``strategy``.

    Attributes:
        capability: every candidate has it.
        version: a PEP 440 range the candidate's version must be in, e.g. ``">=2,<3"``.
        location: candidates whose location (or a tag) is this one are preferred; others
            are used only when none of them qualifies.
        strategy: how one candidate is picked (default: the least loaded).
        routing_key: for ``consistent_hash`` and ``affinity``, e.g. a company id: the same
            key goes to the same agent while the candidates stay the same.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    capability: Name
    version: Annotated[str, StringConstraints(max_length=200)] | None = None
    location: Location | None = None
    strategy: RoutingStrategy = RoutingStrategy.LEAST_LOADED
    routing_key: RoutingKey | None = None

    @field_validator("version")
    @classmethod
    def _a_version_range(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_constraint(value)
            except Exception as exc:  # our ValidationError, said in pydantic's terms
                raise ValueError(f"must be a version range such as '>=2,<3' ({exc})") from None
        return value

    @field_validator("strategy")
    @classmethod
    def _one_target(cls, value: RoutingStrategy) -> RoutingStrategy:
        if value is RoutingStrategy.BROADCAST:
            raise ValueError("broadcast sends to every agent; a routed call goes to one")
        return value

    def describe(self) -> str:
        """``capability carbon_calculation (version >=2,<3, in eu-west-1)``, for errors."""
        constraints = [
            *([f"version {self.version}"] if self.version else []),
            *([f"preferring {self.location}"] if self.location else []),
        ]
        more = f" ({', '.join(constraints)})" if constraints else ""
        return f"capability {self.capability}{more}"


class RouteQuery(BaseModel):
    """One routing decision the orchestration worker is asked for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    route: Route
    min_health: float = Field(ge=0.0, le=1.0)
    exclude: list[AgentId] = Field(default_factory=list, max_length=1000)
    """Agents that failed this call already (it is routed again without them)."""
    failed: AgentId | None = None
    """The agent that failed the call just now: the router counts it (outlier ejection)."""
    purpose: Annotated[str, StringConstraints(max_length=300)] = ""
    """What the call is for (``saga <id> step <name>``), for the worker's log."""


class RouteChoice(BaseModel):
    """The agent a call goes to, and how many qualified."""

    model_config = ConfigDict(frozen=True)

    agent_id: str
    endpoint: str | None = None
    candidates: int = Field(ge=1)


ROUTING_FIELDS = ("version", "location", "strategy", "routing_key")


class Routable(BaseModel):
    """The fields of a call that may name a ``capability`` instead of an ``agent_id`` (saga
    steps, agent tasks): exactly one of the two; the routing fields only with a capability.

    A subclass declares ``agent_id`` (and ``endpoint``, when it has one) itself, after these
    fields; they are checked here. ``_AGENT_ALTERNATIVE`` names what else may stand in for an
    agent (a saga step's approval), and ``agent_needed`` says when nothing does.
    """

    _AGENT_ALTERNATIVE: ClassVar[str] = ""

    capability: Name | None = None
    """Route the call to an agent with this capability instead of naming ``agent_id``."""
    version: Annotated[str, StringConstraints(max_length=200)] | None = None
    """Routed calls: the PEP 440 range of the agent's version, e.g. ``">=2,<3"``."""
    location: Annotated[str, StringConstraints(max_length=128)] | None = None
    """Routed calls: agents in this location (or with it as a tag) are preferred."""
    strategy: RoutingStrategy | None = None
    """Routed calls: how one agent is picked (default ``least_loaded``)."""
    routing_key: Annotated[str, StringConstraints(max_length=256)] | None = None
    """Routed calls: the key ``consistent_hash`` and ``affinity`` keep on one agent."""

    @classmethod
    def agent_needed(cls, data: dict[str, Any]) -> bool:
        """Whether the call, with the fields validated so far, needs an agent or a capability."""
        return True

    @field_validator("agent_id", check_fields=False)
    @classmethod
    def _an_agent_or_a_capability(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Refuse neither or both of ``agent_id`` and ``capability``."""
        if not cls.agent_needed(info.data):
            return value
        capability = info.data.get("capability")
        if value is None and capability is None:
            more = cls._AGENT_ALTERNATIVE
            raise PydanticCustomError("missing", f"Field required (or give a capability{more})")
        if value is not None and capability is not None:
            raise PydanticCustomError(
                "agent_or_capability",
                "give agent_id or capability, not both (a capability is routed to an agent)",
            )
        return value

    @model_validator(mode="after")
    def _routing_fits(self) -> Routable:
        problem = self.routing_problem(getattr(self, "endpoint", None))
        if problem is not None:
            raise ValueError(f"{self.routing_subject()}{problem}")
        return self

    def routing_subject(self) -> str:
        """What a routing problem is about, as its message starts (``step 'x': ``)."""
        return ""

    def routing_problem(self, endpoint: str | None) -> str | None:
        """Why the routing fields do not fit (a fixed agent given them, a routed call given an
        endpoint), or None; a bad range or strategy raises as :class:`Route` does."""
        if self.capability is None:
            taken = [name for name in ROUTING_FIELDS if getattr(self, name) is not None]
            if taken:
                return f"{', '.join(taken)} apply only to a call routed by capability"
            return None
        if endpoint is not None:
            return "routed by capability: the registry gives its agent's endpoint (drop endpoint)"
        self.route  # noqa: B018 - the routing fields are checked as a Route
        return None

    @property
    def route(self) -> Route | None:
        """How a call routed by capability finds its agent; None for a fixed agent."""
        if self.capability is None:
            return None
        return Route(
            capability=self.capability,
            version=self.version,
            location=self.location,
            strategy=self.strategy or RoutingStrategy.LEAST_LOADED,
            routing_key=self.routing_key,
        )
