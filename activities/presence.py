"""An agent process in the registry: it registers itself and heartbeats while it runs.

Temporal, not the registry, delivers work to an agent (its task queue), so a registry that is
down never stops an agent from working: registration is retried in the background with
backoff, and a failed heartbeat is a warning. Heartbeats carry what the registry scores
health with: ``cpu_usage`` (this process's share of the machine since the last heartbeat),
``error_rate`` and ``response_time_ms`` (of the actions finished since the last heartbeat).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field

from orchestration.core.exceptions import AgentNotFoundError, OrchestrationError
from orchestration.core.settings import Settings
from registry.models import AgentDescriptor
from registry.remote_registry import RemoteAgentRegistry

__all__ = ["ActionStats", "AgentPresence"]

log = logging.getLogger(__name__)

_FIRST_RETRY_S = 1.0
_DEREGISTER_TIMEOUT_S = 3.0


@dataclass
class ActionStats:
    """Actions finished since the last :meth:`take`: how many failed, how long they took."""

    calls: int = 0
    failures: int = 0
    total_ms: float = 0.0
    _cpu_at: tuple[float, float] = field(
        default_factory=lambda: (time.process_time(), time.monotonic())
    )

    def record(self, duration_ms: float, *, failed: bool) -> None:
        self.calls += 1
        self.failures += int(failed)
        self.total_ms += duration_ms

    def take(self) -> dict[str, float]:
        """The heartbeat metrics of the window since the last call; starts a new window."""
        cpu, wall = time.process_time(), time.monotonic()
        last_cpu, last_wall = self._cpu_at
        self._cpu_at = (cpu, wall)
        cores = os.cpu_count() or 1
        elapsed = max(wall - last_wall, 1e-6)
        metrics = {"cpu_usage": min(1.0, max(0.0, (cpu - last_cpu) / elapsed / cores))}
        if self.calls:
            metrics["error_rate"] = self.failures / self.calls
            metrics["response_time_ms"] = self.total_ms / self.calls
        self.calls, self.failures, self.total_ms = 0, 0, 0.0
        return metrics


class AgentPresence:
    """Keeps one agent registered while it runs (``async with AgentPresence(...)``).

    Args:
        descriptor: what the agent registers as.
        stats: where the agent records its finished actions.
        settings: the registry service (``ORCH_REGISTRY_URL``, else the one ``orchestration
            up`` runs on this host) and the interval (``ORCH_REGISTRY_HEARTBEAT_INTERVAL_S``).
    """

    def __init__(self, descriptor: AgentDescriptor, stats: ActionStats, settings: Settings):
        self._descriptor = descriptor
        self._stats = stats
        self._settings = settings
        self._interval_s = settings.registry.heartbeat_interval_s
        self._task: asyncio.Task[None] | None = None
        self._registry: RemoteAgentRegistry | None = None
        self.registered = asyncio.Event()
        self.heartbeats = 0

    async def __aenter__(self) -> AgentPresence:
        self._task = asyncio.create_task(self._run(), name=f"presence {self.agent_id}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Stop heartbeating and deregister: a stopped agent is not listed as if it were
        merely slow. A replica sharing its id registers again at its next heartbeat (it is
        told the id is unknown); an agent that is killed instead goes DEGRADED, INACTIVE,
        then away, as the registry's health lifecycle says."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._registry is not None:
            try:
                if self.registered.is_set():
                    # Bounded: stopping must not wait for an unreachable registry.
                    async with asyncio.timeout(_DEREGISTER_TIMEOUT_S):
                        await self._registry.deregister(self.agent_id)
                    log.info("agent %s deregistered: it stopped", self.agent_id)
            except (OrchestrationError, OSError, TimeoutError) as exc:
                log.warning("agent %s could not deregister as it stopped: %s", self.agent_id, exc)
            finally:
                await self._registry.close()

    @property
    def agent_id(self) -> str:
        return self._descriptor.agent_id

    async def _run(self) -> None:
        config = self._settings.registry
        token = config.token.get_secret_value() if config.token else None
        registry = self._registry = RemoteAgentRegistry(
            config.service_url, token=token, timeout_s=config.request_timeout_s
        )
        await self._register(registry)
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await registry.heartbeat(self.agent_id, self._stats.take())
                self.heartbeats += 1
            except AgentNotFoundError:  # evicted while silent, or the registry was reset
                log.warning("agent %s is not registered any more: registering again", self.agent_id)
                self.registered.clear()
                await self._register(registry)
            except (OrchestrationError, OSError) as exc:
                log.warning("agent %s heartbeat failed: %s", self.agent_id, exc)

    async def _register(self, registry: RemoteAgentRegistry) -> None:
        delay = _FIRST_RETRY_S
        while True:
            try:
                await registry.initialize()
                await registry.register(self._descriptor)
            except (OrchestrationError, OSError) as exc:
                log.warning(
                    "agent %s could not register (retrying in %.0f s; it keeps working): %s",
                    self.agent_id,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._interval_s)
                continue
            log.info("agent %s registered", self.agent_id)
            self.registered.set()
            return
