"""``RemoteAgentRegistry``: the registry service's client, a drop-in for ``LocalAgentRegistry``.

Same async methods, same return types (the wire format is the library's own models), same
errors: 404 is :class:`~orchestration.core.exceptions.AgentNotFoundError`, 422 is
:class:`~orchestration.exceptions.ValidationError` with the service's ``problems`` as
``errors``, 409 from ``route`` is :class:`~orchestration.exceptions.RoutingError`. An
unreachable service, a timeout or a 503 is a :class:`RegistryError` with ``retriable=True``.
One ``httpx.AsyncClient`` per service URL is kept for the registry's life, so connections
are reused.

Several services (replicas on one database):
``RemoteAgentRegistry("http://a:8000,http://b:8000")`` (``ORCH_REGISTRY_URL`` takes the same
list). A client uses one of them, the next after the previous client's (from a random one per
process), so that clients spread over the replicas; when that one cannot be reached, times
out or answers 429/502/503/504, the same request goes to the next, which the client keeps
using. Every request is safe to send twice (registrations and rules are upserts, heartbeats
and load reports overwrite, the rest read). Only when none answers is it a retriable
:class:`RegistryError` naming each one's failure.

Example:
    ```python
    async with RemoteAgentRegistry("http://registry:8000", token=token) as registry:
        await registry.register(descriptor)
        await registry.heartbeat("agent-calculator-001", {"cpu_usage": 0.45})
    ```
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from bus.message import Message
from orchestration.core import network
from orchestration.core.exceptions import (
    AgentNotFoundError,
    RegistryError,
    RoutingError,
    ValidationError,
)
from orchestration.core.lifecycle import AsyncResource
from orchestration.core.tracing import instrument_httpx
from registry.discovery import DiscoveryQuery
from registry.models import AgentDescriptor, AgentStatus
from registry.records import RegisteredAgent
from registry.routing import LoadInfo, RoutingStrategy
from registry.routing.rules import RouteRule
from registry.service.schemas import (
    MAX_REGISTRATION_BATCH,
    HeartbeatBatchResult,
    RouteDecision,
)
from registry.store.agent_rows import descriptors_values

__all__ = ["CONNECT_TIMEOUT_S", "RemoteAgentRegistry", "split_urls"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_STARTS = itertools.count(random.randrange(1 << 16))
"""Where each new client starts: the next service after the previous client's, from a random
one per process, so that a process's clients and many processes' spread evenly."""

CONNECT_TIMEOUT_S = 2.0
"""How long a connection to a service may take before the next one is tried (at most the
request timeout)."""

_AGENTS = pydantic.TypeAdapter(list[RegisteredAgent])
_RULES = pydantic.TypeAdapter(list[RouteRule])
_UNAVAILABLE = frozenset({429, 502, 503, 504})


def _agent_path(agent_id: str, suffix: str = "") -> str:
    return f"/agents/{quote(agent_id, safe='')}{suffix}"


class RemoteAgentRegistry(AsyncResource):
    """The agent registry (and message router) of a registry service, over HTTP.

    Args:
        base_url: the service, e.g. ``http://127.0.0.1:8000`` (``ORCH_REGISTRY_URL``).
        token: the service's bearer token (``ORCH_REGISTRY_TOKEN``), if it requires one.
        timeout_s: per-request timeout (connect, read, write, pool each).
        transport: an httpx transport, e.g. ``httpx.ASGITransport(app)`` in tests.
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        urls = split_urls(base_url)
        if token is not None and not (token.isascii() and token.isprintable() and token.strip()):
            problem = "must be printable ASCII, not empty (the value is not shown)"
            raise ValidationError.about("token", problem)
        self._sends_token = token is not None
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        # A link that is down drops the SYN: fail over after a short connect wait, not after
        # the whole request timeout.
        self._connect_timeout_s = min(timeout_s, CONNECT_TIMEOUT_S)
        timeout = httpx.Timeout(timeout_s, connect=self._connect_timeout_s)
        self._urls = urls
        self._clients = [
            httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, transport=transport)
            for url in urls
        ]
        for client in self._clients:
            instrument_httpx(client)
        self._current = next(_STARTS) % len(urls)
        self._timeout_s = timeout_s

    @property
    def base_url(self) -> str:
        """The service this client sends its requests to now."""
        return self._urls[self._current]

    @property
    def base_urls(self) -> list[str]:
        """Every service this client may use, in the order given."""
        return list(self._urls)

    def __repr__(self) -> str:
        return f"RemoteAgentRegistry({','.join(self._urls)!r})"

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> None:
        """Check that the service answers and its database is reachable.

        Raises:
            RegistryError: the service is unreachable or unhealthy (retriable).
        """
        await self._call("GET", "/health")

    async def close(self) -> None:
        """Close the connections. Heartbeats are already in the service's buffer."""
        for client in self._clients:
            await client.aclose()

    # -- agents ------------------------------------------------------------------------

    async def register(self, descriptor: AgentDescriptor) -> RegisteredAgent:
        """Register an agent; registering it again updates its descriptor."""
        response = await self._call("POST", "/agents", json=descriptor.model_dump(mode="json"))
        return self._parse(RegisteredAgent.model_validate, response)

    async def register_many(self, descriptors: Sequence[AgentDescriptor]) -> list[RegisteredAgent]:
        """Register many agents, 1,000 per request (``POST /agents/batch``); their views, in
        order.

        Every descriptor is checked here before the first request; two requests are in
        flight at a time. Each is written in its own transaction(s): when one fails, other
        requests' agents may be registered (registering again is harmless: retry the call).

        Raises:
            ValidationError: a descriptor is invalid (``errors`` names its index); nothing
                was sent.
        """
        descriptors_values(descriptors)
        chunks = [
            descriptors[start : start + MAX_REGISTRATION_BATCH]
            for start in range(0, len(descriptors), MAX_REGISTRATION_BATCH)
        ]
        # Two requests in flight overlap the service's database writes; an agent given
        # twice must end with its last descriptor, so then one request at a time.
        in_flight = 2 if len({d.agent_id for d in descriptors}) == len(descriptors) else 1
        registered: list[RegisteredAgent] = []
        for start in range(0, len(chunks), in_flight):
            answers = await asyncio.gather(
                *(self._register_chunk(chunk) for chunk in chunks[start : start + in_flight])
            )
            for answer in answers:
                registered.extend(answer)
        return registered

    async def _register_chunk(self, chunk: Sequence[AgentDescriptor]) -> list[RegisteredAgent]:
        body = [descriptor.model_dump(mode="json") for descriptor in chunk]
        response = await self._call("POST", "/agents/batch", json=body)
        return self._parse(_AGENTS.validate_python, response)

    async def heartbeat(self, agent_id: str, metrics: Mapping[str, Any] | None = None) -> None:
        """Send a heartbeat; the service writes it with its next batch.

        Raises:
            AgentNotFoundError: the agent is not registered (register it again).
            ValidationError: a metric is invalid.
        """
        # Anything but a mapping is sent as is, for the service to answer 422 like the local
        # registry's ValidationError.
        body = dict(metrics) if isinstance(metrics, Mapping) else metrics
        await self._call("POST", _agent_path(agent_id, "/heartbeat"), json=body, agent=agent_id)

    async def heartbeats(
        self, batch: Mapping[str, Mapping[str, Any] | None]
    ) -> HeartbeatBatchResult:
        """Send many agents' heartbeats (agent id -> metrics) in one request.

        Returns:
            Which were accepted, which ids are not registered, which had invalid metrics.
        """
        items = [
            {"agent_id": agent_id, "metrics": dict(m) if m is not None else None}
            for agent_id, m in batch.items()
        ]
        response = await self._call("POST", "/heartbeats", json=items)
        return self._parse(HeartbeatBatchResult.model_validate, response)

    async def discover(self, query: DiscoveryQuery) -> list[RegisteredAgent]:
        """Find usable agents, best first (see ``LocalAgentRegistry.discover``)."""
        response = await self._call("POST", "/discover", json=query.as_arguments())
        return self._parse(_AGENTS.validate_python, response)

    async def get_agent(self, agent_id: str) -> RegisteredAgent:
        """The agent with its health now.

        Raises:
            AgentNotFoundError: it is not registered.
        """
        response = await self._call("GET", _agent_path(agent_id), agent=agent_id)
        return self._parse(RegisteredAgent.model_validate, response)

    async def list_agents(self, status: AgentStatus | str | None = None) -> list[RegisteredAgent]:
        """Every registered agent ordered by id, optionally only those in ``status`` now."""
        params = {"status": str(getattr(status, "value", status))} if status is not None else None
        response = await self._call("GET", "/agents", params=params)
        return self._parse(_AGENTS.validate_python, response)

    async def deregister(self, agent_id: str) -> bool:
        """Remove the agent now. False when it was not registered."""
        try:
            await self._call("DELETE", _agent_path(agent_id), agent=agent_id)
        except AgentNotFoundError:
            return False
        return True

    # -- routing -----------------------------------------------------------------------

    async def route_rules(self) -> list[RouteRule]:
        """The service's route rules, in match order."""
        response = await self._call("GET", "/route-rules")
        return self._parse(_RULES.validate_python, response)

    async def put_route_rule(self, rule: RouteRule) -> RouteRule:
        """Add or replace the rule named ``rule.name``.

        Raises:
            ValidationError: the rule, or its condition, is refused (``errors`` says why).
        """
        path = f"/route-rules/{quote(rule.name, safe='')}"
        response = await self._call("PUT", path, json=rule.model_dump(mode="json"))
        return self._parse(RouteRule.model_validate, response)

    async def delete_route_rule(self, name: str) -> bool:
        """Remove the rule named ``name``. False when there was none."""
        response = await self._call(
            "DELETE", f"/route-rules/{quote(name, safe='')}", missing_ok=True
        )
        return response.status_code != 404

    async def route(self, message: Message, strategy: RoutingStrategy | None = None) -> list[str]:
        """The agents ``message`` should go to.

        Raises:
            RoutingError: no rule matches, or no matching rule's target is healthy.
        """
        body = {"message": message.model_dump(mode="json"), "strategy": strategy}
        response = await self._call("POST", "/route", json=body)
        return self._parse(RouteDecision.model_validate, response).targets

    async def update_agent_load(self, agent_id: str, load: LoadInfo) -> None:
        """Report an agent's load to the service's router."""
        await self._call("PUT", _agent_path(agent_id, "/load"), json=load.model_dump(mode="json"))

    # -- HTTP --------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        agent: str | None = None,
        missing_ok: bool = False,
    ) -> httpx.Response:
        """The service's answer; on to the next service while one is unavailable."""
        failures: list[RegistryError] = []
        for _ in self._urls:
            index = self._current
            answer = await self._request(index, method, path, json, params, agent, missing_ok)
            if isinstance(answer, httpx.Response):
                return answer
            failures.append(answer)
            if len(self._urls) == 1:
                raise answer
            if self._current == index:  # concurrent calls fail over once, not once each
                self._current = (index + 1) % len(self._urls)
                log.warning("%s; using %s from now on", answer, self._urls[self._current])
        raise RegistryError(
            f"no registry service answered {method} {path}: "
            + "; ".join(str(failure) for failure in failures),
            retriable=True,
        )

    async def _request(
        self,
        index: int,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, str] | None,
        agent: str | None,
        missing_ok: bool,
    ) -> httpx.Response | RegistryError:
        """The answer of service ``index``, or the error that makes another worth asking
        (unreachable, too slow, or busy); other errors are raised."""
        url = self._urls[index]
        try:
            response = await self._clients[index].request(method, path, json=json, params=params)
        except httpx.ConnectTimeout:
            return RegistryError(
                f"the registry at {url} did not accept a connection within "
                f"{self._connect_timeout_s:g} s",
                retriable=True,
            )
        except httpx.TimeoutException as exc:
            return RegistryError(
                f"the registry at {url} did not answer {method} {path} within "
                f"{self._timeout_s:g} s ({type(exc).__name__})",
                retriable=True,
            )
        except httpx.TransportError as exc:
            return RegistryError(
                f"cannot reach the registry at {url} ({exc or type(exc).__name__}): "
                "is the service running? (ORCH_REGISTRY_URL)",
                retriable=True,
            )
        except RuntimeError as exc:  # httpx: the client has been closed
            raise RegistryError(f"this client of {url} is closed") from exc
        if response.is_success or (missing_ok and response.status_code == 404):
            return response
        error = self._error(method, url, path, response, agent)
        if response.status_code in _UNAVAILABLE and isinstance(error, RegistryError):
            return error
        raise error

    def _error(
        self, method: str, url: str, path: str, response: httpx.Response, agent: str | None
    ) -> Exception:
        status = response.status_code
        error, code, problems = _error_body(response)
        if status == 404 and code == "agent_not_found" and agent is not None:
            return AgentNotFoundError(agent)
        if status == 422:
            return ValidationError(error, errors=problems)
        if status == 409:
            return RoutingError(error)
        if status in (401, 403):
            cause = (
                "refused the token" if self._sends_token else "requires a token and none was set"
            )
            return RegistryError(
                f"the registry at {url} {cause} ({status}): set ORCH_REGISTRY_TOKEN "
                "to the service's token"
            )
        if status in _UNAVAILABLE:
            return RegistryError(
                f"the registry at {url} is unavailable ({status}): {error}", retriable=True
            )
        return RegistryError(f"{method} {url}{path} failed ({status}): {error}")

    def _parse(self, parse: Callable[[Any], T], response: httpx.Response) -> T:
        try:
            return parse(response.json())
        except (ValueError, pydantic.ValidationError) as exc:
            raise RegistryError(
                f"unexpected answer from {response.request.url.scheme}://"
                f"{response.request.url.netloc.decode()} to {response.request.method} "
                f"{response.request.url.path}: is it a registry service?"
            ) from exc


def split_urls(base_url: str | Sequence[str]) -> list[str]:
    """The service URLs of ``base_url``: one, a comma-separated list, or a sequence.

    Raises:
        ValidationError: none given, one that is not http(s), or one given twice.
    """
    try:
        return network.split_urls(base_url)
    except ValueError as exc:
        raise ValidationError.about("base_url", str(exc)) from None


def _error_body(response: httpx.Response) -> tuple[str, str | None, list[dict[str, str]]]:
    """The service's error line, code and problems (or what can be made of another body)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return response.reason_phrase or f"HTTP {response.status_code}", None, []
    problems = [
        {"field": str(p.get("field", "")), "problem": str(p.get("problem", ""))}
        for p in body.get("problems") or []
        if isinstance(p, dict)
    ]
    code = body.get("code")
    return body["error"], code if isinstance(code, str) else None, problems
