"""The registry service: the agent registry and the message router over HTTP (FastAPI).

Endpoints (JSON; errors all have the shape of :class:`~registry.service.schemas.ErrorBody`):

=======  ==========================  ===========================================================
method   path                        answers
=======  ==========================  ===========================================================
GET      /health                     200 ``{"status": "ok"}``; 503 database unreachable (no token)
POST     /agents                     201 the agent (also when registering again: an upsert); 422
POST     /agents/batch               201 the agents, in order (at most 1,000); 422, nothing written
GET      /agents?status=             200 list; 422 unknown status
GET      /agents/{agent_id}          200; 404
DELETE   /agents/{agent_id}          204; 404
POST     /agents/{agent_id}/heartbeat  202 (buffered, written with the next batch); 404; 422
POST     /heartbeats                 202 ``{"accepted", "unknown", "rejected"}``; 422
POST     /discover                   200 list, best first; 422
PUT      /agents/{agent_id}/load     204; 422 (the body names another agent)
GET      /route-rules                200 list
PUT      /route-rules/{name}         200 the rule; 422 (name differs, condition refused)
DELETE   /route-rules/{name}         204; 404
POST     /route                      200 ``{"targets": [...]}``; 409 no rule matches or no
                                     target is healthy; 422
GET      /metrics                    200 Prometheus text (registry_*, routing_* metrics)
=======  ==========================  ===========================================================

Every endpoint can also answer 401 (a token is configured and missing or wrong; not
``/health``), 503 with ``Retry-After`` (the database is unreachable) and 500 (a bug; logged).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Body, Depends, FastAPI, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError

from bus.message_bus import MessageBus
from orchestration.core.exceptions import (
    AgentNotFoundError,
    RegistryError,
    RoutingError,
    ValidationError,
)
from orchestration.core.metrics import BUS_FAMILIES, REGISTRY_FAMILIES, families_registry
from orchestration.core.settings import Settings
from orchestration.core.tracing import instrument_fastapi
from registry.discovery import DiscoveryQuery
from registry.health.policy import HealthPolicy
from registry.heartbeats.ingest import HeartbeatIngest
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor, AgentStatus
from registry.records import RegisteredAgent
from registry.routing import LoadInfo
from registry.routing.router import MessageRouter
from registry.routing.rules import RouteRule
from registry.service.auth import BearerAuthMiddleware, bearer_scheme, check_token
from registry.service.errors import (
    CatchAllMiddleware,
    error_response,
    install_error_handlers,
    unavailable_response,
)
from registry.service.schemas import (
    MAX_HEARTBEAT_BATCH,
    MAX_REGISTRATION_BATCH,
    DiscoverRequest,
    ErrorBody,
    HealthBody,
    HeartbeatAccepted,
    HeartbeatBatchResult,
    HeartbeatItem,
    Problem,
    RejectedHeartbeat,
    RouteDecision,
    RouteRequestBody,
)
from registry.store.engine import create_engine
from registry.store.rules import SqlRuleStore

__all__ = ["create_app", "create_app_from_settings"]

logger = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

# Not a valid agent id (it starts with '-'), so never registered: looking it up is a cheap
# round trip to the database that always ends in AgentNotFoundError when the database is up.
_PROBE_ID = "-health-probe"

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        401: "A token is configured and the request has none, or the wrong one",
        422: "The request is invalid; `problems` names each field",
        503: "The database is unreachable; retry after `Retry-After` seconds",
    }.items()
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}


def _add_health_route(app: FastAPI, registry: LocalAgentRegistry) -> None:
    @app.get(
        "/health",
        response_model=HealthBody,
        responses={503: {"model": ErrorBody}},
        tags=["health"],
        summary="Liveness and database reachability (no token needed)",
    )
    async def health() -> Any:
        try:
            await registry.get_agent(_PROBE_ID)
        except AgentNotFoundError:
            return HealthBody()
        except (RegistryError, DBAPIError) as exc:
            logger.warning("health check: %s", exc)
            return unavailable_response()
        return HealthBody()  # pragma: no cover - the probe id cannot be registered


def _add_metrics_route(app: FastAPI, secured: list[Any], families: Sequence[str]) -> None:
    served = families_registry(families)

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        dependencies=secured,
        tags=["metrics"],
        summary="Prometheus metrics of this process (registry_*, routing_*)",
    )
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(served), media_type=CONTENT_TYPE_LATEST)


def _add_agent_routes(
    app: FastAPI, registry: LocalAgentRegistry, router: MessageRouter, secured: list[Any]
) -> None:
    common: dict[str, Any] = {"tags": ["agents"], "dependencies": secured, "responses": _ERRORS}
    found: dict[str, Any] = {**common, "responses": {**_ERRORS, **_NOT_FOUND}}

    @app.post(
        "/agents",
        status_code=201,
        response_model=RegisteredAgent,
        summary="Register an agent; registering it again updates it (also 201)",
        **common,
    )
    async def register(descriptor: AgentDescriptor, response: Response) -> RegisteredAgent:
        agent = await registry.register(descriptor)
        response.headers["Location"] = f"/agents/{quote(agent.agent_id, safe='')}"
        return agent

    @app.post(
        "/agents/batch",
        status_code=201,
        response_model=list[RegisteredAgent],
        summary=f"Register up to {MAX_REGISTRATION_BATCH:,} agents (each an upsert)",
        **common,
    )
    async def register_many(
        descriptors: Annotated[list[AgentDescriptor], Body(max_length=MAX_REGISTRATION_BATCH)],
    ) -> list[RegisteredAgent]:
        return await registry.register_many(descriptors)

    @app.get("/agents", response_model=list[RegisteredAgent], summary="List agents by id", **common)
    async def list_agents(status: AgentStatus | None = None) -> list[RegisteredAgent]:
        return await registry.list_agents(status)

    @app.get("/agents/{agent_id}", response_model=RegisteredAgent, **found)
    async def get_agent(agent_id: str) -> RegisteredAgent:
        return await registry.get_agent(agent_id)

    @app.delete("/agents/{agent_id}", status_code=204, **found)
    async def deregister(agent_id: str) -> Response:
        if not await registry.deregister(agent_id):
            raise AgentNotFoundError(agent_id)
        return Response(status_code=204)

    @app.post(
        "/agents/{agent_id}/heartbeat",
        status_code=202,
        response_model=HeartbeatAccepted,
        summary="Accept a heartbeat; it is written with the next batch",
        **found,
    )
    async def heartbeat(
        agent_id: str, metrics: Annotated[dict[str, Any] | None, Body()] = None
    ) -> HeartbeatAccepted:
        await registry.heartbeat(agent_id, metrics)
        return HeartbeatAccepted(agent_id=agent_id)

    @app.post(
        "/heartbeats",
        status_code=202,
        response_model=HeartbeatBatchResult,
        summary="Accept many heartbeats; unknown agents and invalid metrics are listed",
        **common,
    )
    async def heartbeats(
        batch: Annotated[list[HeartbeatItem], Body(max_length=MAX_HEARTBEAT_BATCH)],
    ) -> HeartbeatBatchResult:
        result = HeartbeatBatchResult()
        for item in batch:
            try:
                await registry.heartbeat(item.agent_id, item.metrics)
            except AgentNotFoundError:
                result.unknown.append(item.agent_id)
            except ValidationError as exc:
                problems = [Problem(field=e["field"], problem=e["problem"]) for e in exc.errors]
                rejected = RejectedHeartbeat(
                    agent_id=item.agent_id, error=exc.message, problems=problems
                )
                result.rejected.append(rejected)
            else:
                result.accepted.append(item.agent_id)
        return result

    @app.post(
        "/discover",
        response_model=list[RegisteredAgent],
        summary="Find agents, best first",
        **common,
    )
    async def discover(query: DiscoverRequest) -> list[RegisteredAgent]:
        return await registry.discover(DiscoveryQuery.build(**query.model_dump()))

    @app.put("/agents/{agent_id}/load", status_code=204, summary="Report an agent's load", **common)
    async def update_load(agent_id: str, load: LoadInfo) -> Response:
        if load.agent_id != agent_id:
            raise ValidationError.about(
                "body.agent_id", f"must be the agent of the path ({agent_id!r})"
            )
        router.update_agent_load(agent_id, load)
        return Response(status_code=204)


def _add_routing_routes(app: FastAPI, router: MessageRouter, secured: list[Any]) -> None:
    common: dict[str, Any] = {"tags": ["routing"], "dependencies": secured, "responses": _ERRORS}
    found: dict[str, Any] = {**common, "responses": {**_ERRORS, **_NOT_FOUND}}
    no_route: dict[str, Any] = {
        **common,
        "responses": {
            **_ERRORS,
            409: {"model": ErrorBody, "description": "No rule matches, or no target is healthy"},
        },
    }

    @app.get(
        "/route-rules", response_model=list[RouteRule], summary="Rules, in match order", **common
    )
    async def route_rules() -> list[RouteRule]:
        return router.rules

    @app.put(
        "/route-rules/{name}",
        response_model=RouteRule,
        summary="Add or replace a rule; its condition is checked now",
        **common,
    )
    async def put_route_rule(name: str, rule: RouteRule) -> RouteRule:
        if rule.name != name:
            raise ValidationError.about("body.name", f"must be the name of the path ({name!r})")
        try:
            await router.save_route_rule(rule)
        except RoutingError as exc:
            raise ValidationError.about("body.condition", exc.message) from None
        return rule

    @app.delete("/route-rules/{name}", status_code=204, **found)
    async def delete_route_rule(name: str) -> Response:
        if not await router.delete_route_rule(name):
            return error_response(404, f"no route rule is named {name!r}")
        return Response(status_code=204)

    @app.post(
        "/route",
        response_model=RouteDecision,
        summary="Choose the agents a message goes to",
        **no_route,
    )
    async def route(request: RouteRequestBody) -> RouteDecision:
        return RouteDecision(targets=await router.route(request.message, request.strategy))


def create_app(
    registry: LocalAgentRegistry,
    router: MessageRouter,
    *,
    token: str | None,
    lifespan: Lifespan | None = None,
    metric_families: Sequence[str] = REGISTRY_FAMILIES,
) -> FastAPI:
    """The service over an initialized registry and router, which the caller owns.

    Args:
        registry: the agent registry the endpoints use.
        router: the message router (rules, loads and decisions).
        token: the bearer token every endpoint but ``/health`` requires; None for none.
        lifespan: startup and shutdown of the application (see :func:`create_app_from_settings`).
        metric_families: the metric name prefixes ``/metrics`` serves (what this process
            updates), besides the platform's ``process_*`` and ``python_*``.

    Raises:
        ConfigurationError: the token is empty.
    """
    token = check_token(token)
    app = FastAPI(
        title="GreenLang Orchestration registry",
        summary="Register, heartbeat, discover and route agents.",
        version="1",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    instrument_fastapi(app)
    # The middleware enforces the token; the dependency only declares it in the OpenAPI
    # document, so that /docs offers "Authorize".
    secured = [Depends(bearer_scheme)] if token else []
    _add_health_route(app, registry)
    _add_agent_routes(app, registry, router, secured)
    _add_routing_routes(app, router, secured)
    _add_metrics_route(app, secured, metric_families)
    if token:
        app.add_middleware(BearerAuthMiddleware, token=token)
    app.add_middleware(CatchAllMiddleware)  # outermost: the last added runs first
    return app


def create_app_from_settings(settings: Settings) -> FastAPI:
    """The service as ``orchestration registry serve`` runs it.

    Its lifespan initializes the registry (applying migrations when
    ``settings.database.auto_migrate``) and the router (rules in the same database), and
    closes both, writing pending heartbeats, on shutdown.

    Raises:
        ConfigurationError: the database URL or the token cannot work.
    """
    config = settings.registry
    engine = create_engine(settings.database_url)
    policy = HealthPolicy(
        heartbeat_interval_s=config.heartbeat_interval_s,
        health_check_interval_s=config.health_check_interval_s,
        deregistration_timeout_s=config.deregistration_timeout_s,
    )
    registry = LocalAgentRegistry(
        engine,
        policy=policy,
        migrate=settings.database.auto_migrate,
        max_health_series=config.health_series_limit,
    )
    router = MessageRouter(registry=registry, rules=SqlRuleStore(engine))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            await registry.initialize()
            stack.push_async_callback(registry.close)
            await router.initialize()
            stack.push_async_callback(router.close)
            if config.kafka_heartbeats:
                bus = MessageBus(settings.kafka)
                await bus.initialize()
                stack.push_async_callback(bus.close)
                ingest = HeartbeatIngest(registry, bus, topic=config.heartbeat_topic)
                await ingest.start()
                stack.push_async_callback(ingest.stop)
            yield

    token = config.token.get_secret_value() if config.token is not None else None
    families = (*REGISTRY_FAMILIES, *BUS_FAMILIES) if config.kafka_heartbeats else REGISTRY_FAMILIES
    return create_app(registry, router, token=token, lifespan=lifespan, metric_families=families)
