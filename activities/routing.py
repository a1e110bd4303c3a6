"""``orchestration.route``: the routing decision of a call that names a capability.

Run by the orchestration worker. It asks the registry for the agents with the capability
(version range, minimum health; see ``RouteConfig``), drops those that failed this call
already, prefers the wanted location, and lets the router's strategy pick one of the rest
(``registry.routing``: ``least_loaded`` over the agents' last heartbeats, ``consistent_hash``
and ``affinity`` by the routing key, ...). Agents that keep failing calls are ejected for a
while, as the message router ejects outliers.

No agent qualifies: a retryable ``RoutingError`` naming the capability and the constraints,
so the workflow's retry policy asks again until agents come back or its wait is over. The
registry unreachable: retryable too. A query that cannot work: non-retryable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orchestration.core.exceptions import OrchestrationError, ValidationError
from orchestration.core.routing import RoutingStrategy
from orchestration.core.settings import Settings
from orchestration.core.tracing import span
from orchestration.core.validation import KAFKA_SCHEME, TEMPORAL_SCHEME
from registry.backend import RegistryBackend
from registry.discovery import DiscoveryQuery, in_location
from registry.records import RegisteredAgent
from registry.remote_registry import RemoteAgentRegistry
from registry.routing.base import Strategy
from registry.routing.ejection import OutlierDetector, without_ejected
from registry.routing.factory import make_strategy
from registry.routing.types import Candidate, LoadInfo, RouteRequest
from workflows.routing_models import ROUTE_ACTIVITY, ROUTING_ERROR, RouteChoice, RouteQuery

__all__ = ["MAX_CANDIDATES", "CapabilityRouter"]

log = logging.getLogger(__name__)

MAX_CANDIDATES = 200
"""At most this many agents are asked for per decision (the healthiest, preferred first)."""
REGISTRY_UNAVAILABLE = "RegistryUnavailable"


class CapabilityRouter:
    """Routing decisions for one orchestration worker (its strategies and ejections are this
    process's own, like a ``MessageRouter``'s).

    Args:
        settings: where the registry service is (``ORCH_REGISTRY_URL``, else the local one of
            ``orchestration up``), when ``registry`` is not given.
        registry: a registry backend to ask instead (in-process; its owner closes it).
    """

    def __init__(self, settings: Settings, registry: RegistryBackend | None = None) -> None:
        self._settings = settings
        self._registry = registry
        self._remote: RemoteAgentRegistry | None = None
        self._strategies: dict[RoutingStrategy, Strategy] = {}
        self._ejections = OutlierDetector(consecutive_failures=2)

    def activity(self) -> Callable[[RouteQuery], Awaitable[RouteChoice]]:
        """The ``orchestration.route`` activity for the worker."""

        @activity.defn(name=ROUTE_ACTIVITY)
        async def route(query: RouteQuery) -> RouteChoice:
            return await self.route(query)

        return route

    async def route(self, query: RouteQuery) -> RouteChoice:
        """Pick the agent for ``query``; with tracing on, in a span that says what was asked
        and whom it chose.

        Raises:
            ApplicationError: ``RoutingError`` (retryable) when no agent qualifies,
                ``RegistryUnavailable`` (retryable), or a non-retryable ``ValidationError``.
        """
        route = query.route

        def attributes() -> dict[str, Any]:
            return {
                "orchestration.route.capability": route.capability,
                "orchestration.route.version": route.version,
                "orchestration.route.location": route.location,
                "orchestration.route.strategy": route.strategy.value,
                "orchestration.route.excluded": list(query.exclude) or None,
                "orchestration.route.purpose": query.purpose,
            }

        with span(f"route {route.capability}", attributes) as current:
            choice = await self._route(query)
            if current is not None:
                current.set_attributes(
                    {
                        "orchestration.route.agent_id": choice.agent_id,
                        "orchestration.route.candidates": choice.candidates,
                    }
                )
            return choice

    async def _route(self, query: RouteQuery) -> RouteChoice:
        now = time.monotonic()
        if query.failed is not None:
            self._ejections.record_failure(query.failed, now)
        found = await self._discover(query)
        usable = [agent for agent in found if _dispatchable(agent)]
        others = [agent for agent in usable if agent.agent_id not in set(query.exclude)]
        if not others:
            raise ApplicationError(
                _nobody(query, found=len(found), usable=len(usable)), type=ROUTING_ERROR
            )
        wanted = query.route.location
        if wanted is not None:
            local = [a for a in others if in_location(a.location, a.descriptor.tags, wanted)]
            others = local or others
        candidates = without_ejected(
            [_candidate(agent, self._ejections.is_ejected(agent.agent_id, now)) for agent in others]
        )
        request = RouteRequest(
            rule=f"capability:{query.route.capability}", key=query.route.routing_key
        )
        picked = self._strategy(query.route.strategy).select(candidates, request)
        chosen = next(agent for agent in others if agent.agent_id == picked[0])
        log.info(
            "%s: routed to %s (%s of %d)",
            query.purpose or "a call",
            chosen.agent_id,
            query.route.strategy.value,
            len(candidates),
        )
        return RouteChoice(
            agent_id=chosen.agent_id, endpoint=chosen.descriptor.endpoint, candidates=len(others)
        )

    async def _discover(self, query: RouteQuery) -> list[RegisteredAgent]:
        route = query.route
        try:
            discovery = DiscoveryQuery.build(
                capabilities=[route.capability],
                version_constraint=route.version,
                min_health_score=query.min_health,
                location_preference=route.location,
                max_results=MAX_CANDIDATES,
            )
        except ValidationError as exc:
            raise ApplicationError(str(exc), type="ValidationError", non_retryable=True) from None
        try:
            return await self._backend().discover(discovery)
        except OrchestrationError as exc:
            raise ApplicationError(
                f"cannot ask the registry for {route.describe()}: {exc}",
                type=REGISTRY_UNAVAILABLE,
            ) from None

    def _backend(self) -> RegistryBackend:
        """The registry given, else one client of the registry service for every decision
        (a client per call cost about 50 ms of the worker's CPU: its TLS context)."""
        if self._registry is not None:
            return self._registry
        if self._remote is None:
            config = self._settings.registry
            token = config.token.get_secret_value() if config.token else None
            self._remote = RemoteAgentRegistry(
                config.service_url, token=token, timeout_s=config.request_timeout_s
            )
        return self._remote

    async def close(self) -> None:
        """Close the registry service's client, if this opened one."""
        remote, self._remote = self._remote, None
        if remote is not None:
            await remote.close()

    def _strategy(self, kind: RoutingStrategy) -> Strategy:
        if kind not in self._strategies:
            self._strategies[kind] = make_strategy(kind)
        return self._strategies[kind]


def _dispatchable(agent: RegisteredAgent) -> bool:
    """Reached through a Temporal task queue (no endpoint, or a ``temporal://`` one) or its
    bus inbox (``kafka://``)."""
    endpoint = agent.descriptor.endpoint
    return endpoint is None or endpoint.startswith((TEMPORAL_SCHEME, KAFKA_SCHEME))


def _candidate(agent: RegisteredAgent, ejected: bool) -> Candidate:
    """The agent as the router's strategies see it, its load from its last heartbeat."""
    metrics = agent.metrics
    load = None
    if metrics is not None:
        load = LoadInfo(
            agent_id=agent.agent_id,
            message_queue_size=round((metrics.cpu_usage or 0.0) * 100),
            processing_time_ms=metrics.response_time_ms or 0.0,
            error_rate=metrics.error_rate or 0.0,
            capacity=100,
        )
    return Candidate(agent_id=agent.agent_id, health=agent.health_score, load=load, ejected=ejected)


def _nobody(query: RouteQuery, *, found: int, usable: int) -> str:
    """Why no agent qualifies, naming the capability and the constraints."""
    route = query.route
    why = f"no agent with {route.describe()} and health >= {query.min_health:g} is registered"
    if found > usable:
        why += (
            f" ({found - usable} found have endpoints that are neither temporal:// nor "
            "kafka://, which steps cannot call)"
        )
    if query.exclude and usable:
        why = (
            f"every agent with {route.describe()} failed this call already "
            f"({', '.join(sorted(query.exclude))})"
        )
    return f"{why}: waiting for one to register or recover"
