"""``AgentRegistry``: the quick reference's registry, in-process or remote by configuration.

With ``ORCH_REGISTRY_URL`` unset it keeps agents in the database at ``ORCH_DATABASE_URL``
itself (``LocalAgentRegistry``); with it set it talks to a registry service over HTTP
(``RemoteAgentRegistry``). Both offer the same methods and return the same types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from orchestration.core.settings import Settings, get_settings
from registry.health import HealthPolicy
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor, AgentStatus, ServiceType
from registry.records import RegisteredAgent

if TYPE_CHECKING:
    from registry.remote_registry import RemoteAgentRegistry

__all__ = ["AgentRegistry"]


class AgentRegistry:
    """Register agents, take their heartbeats, and discover them.

    Args:
        bus: a ``MessageBus`` (optional).
        heartbeat_interval_seconds: how often agents are expected to heartbeat.
        health_check_interval_seconds: how often every agent's status is re-evaluated.
        deregistration_timeout_seconds: silence after which an agent is removed.
        settings: defaults to ``get_settings()``; ``settings.registry.url`` picks remote mode.

    Unset timings come from ``ORCH_REGISTRY_*`` (30, 60 and 300 seconds by default).
    """

    def __init__(
        self,
        bus: object | None = None,
        *,
        heartbeat_interval_seconds: float | None = None,
        health_check_interval_seconds: float | None = None,
        deregistration_timeout_seconds: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.bus = bus
        settings = settings or get_settings()
        config = settings.registry
        self._backend: LocalAgentRegistry | RemoteAgentRegistry
        if config.url:
            from registry.remote_registry import RemoteAgentRegistry

            token = config.token.get_secret_value() if config.token else None
            self._backend = RemoteAgentRegistry(
                config.url, token=token, timeout_s=config.request_timeout_s
            )
        else:
            policy = HealthPolicy(
                heartbeat_interval_s=heartbeat_interval_seconds or config.heartbeat_interval_s,
                health_check_interval_s=(
                    health_check_interval_seconds or config.health_check_interval_s
                ),
                deregistration_timeout_s=(
                    deregistration_timeout_seconds or config.deregistration_timeout_s
                ),
            )
            self._backend = LocalAgentRegistry(
                settings.database_url,
                policy=policy,
                migrate=settings.database.auto_migrate,
                max_health_series=config.health_series_limit,
            )

    @property
    def remote(self) -> bool:
        return not isinstance(self._backend, LocalAgentRegistry)

    async def initialize(self) -> None:
        await self._backend.initialize()

    async def close(self) -> None:
        await self._backend.close()

    async def __aenter__(self) -> AgentRegistry:
        await self.initialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def register(self, descriptor: AgentDescriptor) -> RegisteredAgent:
        return await self._backend.register(descriptor)

    async def heartbeat(self, agent_id: str, metrics: Mapping[str, Any] | None = None) -> None:
        await self._backend.heartbeat(agent_id, metrics)

    async def discover(
        self,
        capabilities: Iterable[str] | None = None,
        service_types: Iterable[ServiceType | str] | None = None,
        tags: Iterable[str] | None = None,
        version_constraint: str | None = None,
        min_health_score: float = 0.0,
        location_preference: str | None = None,
        max_results: int = 10,
    ) -> list[RegisteredAgent]:
        return await self._backend.discover(
            capabilities=capabilities,
            service_types=service_types,
            tags=tags,
            version_constraint=version_constraint,
            min_health_score=min_health_score,
            location_preference=location_preference,
            max_results=max_results,
        )

    async def get_agent(self, agent_id: str) -> RegisteredAgent:
        return await self._backend.get_agent(agent_id)

    async def list_agents(self, status: AgentStatus | str | None = None) -> list[RegisteredAgent]:
        return await self._backend.list_agents(status)

    async def deregister(self, agent_id: str) -> bool:
        return await self._backend.deregister(agent_id)
