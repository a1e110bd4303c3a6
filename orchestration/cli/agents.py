"""``orchestration agents list | discover``: the registry from the command line.

Uses the registry service at ``ORCH_REGISTRY_URL`` when set, else the database at
``ORCH_DATABASE_URL`` directly, the same way ``AgentRegistry`` does.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

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


def agents_table(agents: list[RegisteredAgent], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("agent", "type", "version", "status", "health", "location", "capabilities"):
        table.add_column(column, justify="right" if column == "health" else "left")
    for agent in agents:
        d = agent.descriptor
        style = _STATUS_STYLE.get(agent.status)
        status = f"[{style}]{agent.status.value}[/]" if style else agent.status.value
        table.add_row(
            d.agent_id,
            d.agent_type,
            d.version,
            status,
            f"{agent.health_score:.0%}",
            agent.location or "",
            ", ".join(d.capabilities),
        )
    return table
