"""``orchestration agents list | discover``: the registry from the command line.

Uses the registry service at ``ORCH_REGISTRY_URL`` when set, else the database at
``ORCH_DATABASE_URL`` directly, the same way ``AgentRegistry`` does.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group

from orchestration.cli.common import Column, fitted_table
from orchestration.core.settings import Settings
from registry.agent_registry import AgentRegistry
from registry.models import AgentStatus, ServiceType
from registry.records import RegisteredAgent

__all__ = ["agents_table", "as_rows", "discover", "list_agents"]

_STATUS_STYLE = {
    AgentStatus.ACTIVE: "green",
    AgentStatus.DEGRADED: "yellow",
    AgentStatus.INACTIVE: "red",
}


async def list_agents(settings: Settings, status: AgentStatus | None) -> list[RegisteredAgent]:
    async with AgentRegistry(settings=settings) as registry:
        return await registry.list_agents(status)


async def discover(
    settings: Settings,
    *,
    capabilities: list[str],
    service_types: list[ServiceType],
    tags: list[str],
    version: str | None,
    min_health: float,
    location: str | None,
    limit: int,
) -> list[RegisteredAgent]:
    async with AgentRegistry(settings=settings) as registry:
        return await registry.discover(
            capabilities=capabilities or None,
            service_types=service_types or None,
            tags=tags or None,
            version_constraint=version,
            min_health_score=min_health,
            location_preference=location,
            max_results=limit,
        )


def as_rows(agents: list[RegisteredAgent]) -> list[dict[str, Any]]:
    """The agents as JSON-ready rows (``--json``)."""
    return [agent.model_dump(mode="json") for agent in agents]


def agents_table(agents: list[RegisteredAgent], title: str, *, width: int = 80) -> Group:
    """One row per agent, no wider than ``width``: ids and capabilities fold, never cut; the
    type, version and location columns go first when it does not fit (``--json`` has all)."""
    located = any(a.location for a in agents)
    columns = [
        Column("agent", [a.descriptor.agent_id for a in agents], floor=16),
        Column("type", [a.descriptor.agent_type for a in agents], drop=3),
        Column("version", [a.descriptor.version for a in agents], wraps=False, drop=2),
        Column("status", [_status(a) for a in agents], wraps=False),
        Column("health", [f"{a.health_score:.0%}" for a in agents], wraps=False, right=True),
        *([Column("location", [a.location or "" for a in agents], drop=1)] if located else []),
        Column("capabilities", [", ".join(a.descriptor.capabilities) for a in agents], floor=16),
    ]
    return fitted_table(title, columns, width)


def _status(agent: RegisteredAgent) -> str:
    style = _STATUS_STYLE.get(agent.status)
    return f"[{style}]{agent.status.value}[/]" if style else agent.status.value
