"""``RegistryBackend``: what ``AgentRegistry`` asks of the registry it fronts.

Two implement it: :class:`~registry.local_registry.LocalAgentRegistry` (the database, in
this process) and :class:`~registry.remote_registry.RemoteAgentRegistry` (a registry
service over HTTP). Same methods, same return types, same errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from registry.discovery import DiscoveryQuery
from registry.models import AgentDescriptor, AgentStatus
from registry.records import RegisteredAgent

__all__ = ["RegistryBackend"]


class RegistryBackend(Protocol):
    """Register agents, take their heartbeats, and discover them."""

    async def initialize(self) -> None: ...

    async def close(self) -> None: ...

    async def register(self, descriptor: AgentDescriptor) -> RegisteredAgent: ...

    async def register_many(
        self, descriptors: Sequence[AgentDescriptor]
    ) -> list[RegisteredAgent]: ...

    async def heartbeat(self, agent_id: str, metrics: Mapping[str, Any] | None = None) -> None: ...

    async def discover(self, query: DiscoveryQuery) -> list[RegisteredAgent]: ...

    async def get_agent(self, agent_id: str) -> RegisteredAgent: ...

    async def list_agents(
        self, status: AgentStatus | str | None = None
    ) -> list[RegisteredAgent]: ...

    async def deregister(self, agent_id: str) -> bool: ...
