"""``AgentRegistry``: the quick reference's registry, in-process or remote by configuration.

With ``ORCH_REGISTRY_URL`` unset it keeps agents in the database at ``ORCH_DATABASE_URL``
itself (``LocalAgentRegistry``); with it set it talks to a registry service over HTTP
(``RemoteAgentRegistry``). Both are a :class:`~registry.backend.RegistryBackend`; this class
keeps the quick reference's keyword form of ``discover``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bus.publisher import Publisher
from orchestration.core.lifecycle import AsyncResource
from orchestration.core.settings import Settings, get_settings
from registry.backend import RegistryBackend
from registry.discovery import DiscoveryQuery
from registry.health.policy import HealthPolicy
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor, AgentStatus, ServiceType
from registry.records import RegisteredAgent
from registry.remote_registry import RemoteAgentRegistry

__all__ = ["AgentRegistry"]


class AgentRegistry(AsyncResource):
    """Register agents, take their heartbeats, and discover them.

    Args:
        bus: a ``MessageBus`` (optional; kept as ``bus`` for the components that share it).
        heartbeat_interval_seconds: how often agents are expected to heartbeat.
        health_check_interval_seconds: how often every agent's status is re-evaluated.
        deregistration_timeout_seconds: silence after which an agent is removed.
        settings: defaults to ``get_settings()``; ``settings.registry.url`` picks remote mode.

    Unset timings come from ``ORCH_REGISTRY_*`` (30, 60 and 300 seconds by default).
    """

    def __init__(
        self,
        bus: Publisher | None = None,
        *,
        heartbeat_interval_seconds: float | None = None,
        health_check_interval_seconds: float | None = None,
        deregistration_timeout_seconds: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.bus = bus
        settings = settings or get_settings()
        config = settings.registry
        self._backend: RegistryBackend
        if config.url:
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
    def backend(self) -> RegistryBackend:
        """The registry this one fronts: a ``LocalAgentRegistry`` or a ``RemoteAgentRegistry``."""
        return self._backend

    @property
    def remote(self) -> bool:
        return not isinstance(self._backend, LocalAgentRegistry)

    async def initialize(self) -> None:
        await self._backend.initialize()

    async def close(self) -> None:
        await self._backend.close()

    async def register(self, descriptor: AgentDescriptor) -> RegisteredAgent:
        return await self._backend.register(descriptor)

    async def register_many(self, descriptors: Sequence[AgentDescriptor]) -> list[RegisteredAgent]:
        """Register many agents at once (in-process: 1,000 per transaction; remote: 1,000 per
        request); their views, in order. Every descriptor is checked before any is written.

        Raises:
            ValidationError: a descriptor is invalid; ``errors`` names its index.
        """
        return await self._backend.register_many(descriptors)

    async def heartbeat(self, agent_id: str, metrics: Mapping[str, Any] | None = None) -> None:
        await self._backend.heartbeat(agent_id, metrics)

    async def flush(self) -> None:
        """Write the heartbeats the in-process registry holds back (it batches them) now, so
        other processes see these loads at once; a remote registry has sent each already."""
        if isinstance(self._backend, LocalAgentRegistry):
            await self._backend.flush()

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
        """Find usable agents, best first (see :mod:`registry.discovery` for the ranking).

        Args:
            capabilities: every one is required.
            service_types: any one is enough.
            tags: any one is enough.
            version_constraint: a PEP 440 constraint such as ``">=2.0,<3"``.
            min_health_score: the lowest health score (0..1) at read time.
            location_preference: agents whose location or a tag equals it come first.
            max_results: at most this many agents.

        Raises:
            ValidationError: an argument is invalid; ``errors`` names it.
        """
        query = DiscoveryQuery.build(
            capabilities=capabilities,
            service_types=service_types,
            tags=tags,
            version_constraint=version_constraint,
            min_health_score=min_health_score,
            location_preference=location_preference,
            max_results=max_results,
        )
        return await self._backend.discover(query)

    async def get_agent(self, agent_id: str) -> RegisteredAgent:
        return await self._backend.get_agent(agent_id)

    async def list_agents(self, status: AgentStatus | str | None = None) -> list[RegisteredAgent]:
        return await self._backend.list_agents(status)

    async def deregister(self, agent_id: str) -> bool:
        return await self._backend.deregister(agent_id)
