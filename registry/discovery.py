"""Discovery queries: validating their arguments, and filtering and ranking the candidates.

Pure: the registry fetches candidates (agents with every requested capability, any requested
service type and any requested tag) from the store, computes their health, and hands them here.

**Ranking.** Agents in the preferred location come before *all* other qualifying agents, even
healthier ones; within each group, higher health first, then agent id (so equal answers are
deterministic). An agent is in the preferred location when its ``location`` or any of its tags
equals it, ignoring case. INACTIVE and DEREGISTERED agents are never returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestration.core.exceptions import ValidationError
from orchestration.core.versions import VersionConstraint, parse_constraint
from registry.models import AgentStatus, ServiceType

__all__ = ["Candidate", "DiscoveryQuery", "in_location", "select_agents"]

_USABLE = frozenset({AgentStatus.ACTIVE, AgentStatus.DEGRADED})


def _names(field: str, values: Iterable[str] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ValidationError.about(field, "must be a list of names, e.g. ['carbon_calculation']")
    return tuple(dict.fromkeys(values))


def _service_types(values: Iterable[ServiceType | str] | None) -> tuple[ServiceType, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        raise ValidationError.about("service_types", "must be a list of service types")
    try:
        return tuple(dict.fromkeys(ServiceType(value) for value in values))
    except ValueError:
        known = ", ".join(s.value for s in ServiceType)
        raise ValidationError.about(
            "service_types", f"must contain only known service types ({known})"
        ) from None


@dataclass(frozen=True, slots=True)
class DiscoveryQuery:
    """What ``discover`` is asked: the registries take this, validated by :meth:`build`.

    ``AgentRegistry.discover`` keeps the quick reference's keyword form and builds one.
    """

    capabilities: tuple[str, ...] = ()
    service_types: tuple[ServiceType, ...] = ()
    tags: tuple[str, ...] = ()
    version: VersionConstraint | None = None
    min_health_score: float = 0.0
    location_preference: str | None = None
    max_results: int = 10

    @classmethod
    def build(
        cls,
        *,
        capabilities: Iterable[str] | None = None,
        service_types: Iterable[ServiceType | str] | None = None,
        tags: Iterable[str] | None = None,
        version_constraint: str | None = None,
        min_health_score: float = 0.0,
        location_preference: str | None = None,
        max_results: int = 10,
    ) -> DiscoveryQuery:
        """Validate ``discover``'s arguments.

        Raises:
            ValidationError: an argument is invalid; ``errors`` names it.
        """
        if (
            isinstance(min_health_score, bool)
            or not isinstance(min_health_score, int | float)
            or not math.isfinite(min_health_score)
            or not 0.0 <= min_health_score <= 1.0
        ):
            raise ValidationError.about(
                "min_health_score", f"must be between 0 and 1 (got {min_health_score!r})"
            )
        if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
            raise ValidationError.about(
                "max_results", f"must be a positive integer (got {max_results!r})"
            )
        if location_preference is not None and (
            not isinstance(location_preference, str) or not location_preference.strip()
        ):
            raise ValidationError.about("location_preference", "must be a non-empty string or None")
        return cls(
            capabilities=_names("capabilities", capabilities),
            service_types=_service_types(service_types),
            tags=_names("tags", tags),
            version=parse_constraint(version_constraint)
            if version_constraint is not None
            else None,
            min_health_score=float(min_health_score),
            location_preference=location_preference.strip() if location_preference else None,
            max_results=max_results,
        )

    def as_arguments(self) -> dict[str, Any]:
        """The query as :meth:`build`'s keyword arguments, JSON-friendly (the registry
        service's ``POST /discover`` body)."""
        return {
            "capabilities": list(self.capabilities),
            "service_types": [service_type.value for service_type in self.service_types],
            "tags": list(self.tags),
            "version_constraint": self.version.text if self.version is not None else None,
            "min_health_score": self.min_health_score,
            "location_preference": self.location_preference,
            "max_results": self.max_results,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent as discovery ranks it: its health now, and what the filters look at."""

    agent_id: str
    version: str
    location: str | None
    tags: Sequence[str]
    health: float
    status: AgentStatus


def in_location(location: str | None, tags: Iterable[str], wanted: str) -> bool:
    """True when ``location`` or any of ``tags`` is ``wanted`` (ignoring case)."""
    wanted = wanted.casefold()
    if location is not None and location.casefold() == wanted:
        return True
    return any(tag.casefold() == wanted for tag in tags)


def select_agents(candidates: Iterable[Candidate], query: DiscoveryQuery) -> list[Candidate]:
    """Filter ``candidates`` by version, status and health, then rank them (module docstring).

    The capability, service type and tag filters are assumed applied already.
    """
    qualifying = [
        candidate
        for candidate in candidates
        if candidate.status in _USABLE
        and candidate.health >= query.min_health_score
        and (query.version is None or query.version.allows(candidate.version))
    ]
    preferred = query.location_preference

    def rank(candidate: Candidate) -> tuple[bool, float, str]:
        elsewhere = preferred is not None and not in_location(
            candidate.location, candidate.tags, preferred
        )
        return (elsewhere, -candidate.health, candidate.agent_id)

    return sorted(qualifying, key=rank)[: query.max_results]
