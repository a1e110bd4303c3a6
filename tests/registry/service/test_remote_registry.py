"""``RemoteAgentRegistry`` against the service: the local registry's types and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from bus.message import Message
from orchestration.core.exceptions import (
    AgentNotFoundError,
    RegistryError,
    RoutingError,
    ValidationError,
)
from orchestration.testing.ports import free_port
from registry.discovery import DiscoveryQuery
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentStatus, ServiceType
from registry.records import RegisteredAgent
from registry.remote_registry import RemoteAgentRegistry
from registry.routing import LoadInfo, RoutingStrategy
from registry.routing.router import MessageRouter
from registry.routing.rules import RouteRule
from registry.service.schemas import HeartbeatBatchResult
from tests.registry.service.conftest import DescriptorFactory

HEALTHY = {"cpu_usage": 0.4, "error_rate": 0.0, "response_time_ms": 120}


async def test_the_client_returns_what_the_local_registry_returns(
    remote: RemoteAgentRegistry,
    registry: LocalAgentRegistry,
    descriptor: DescriptorFactory,
    unique: str,
) -> None:
    agent = descriptor(version="2.1.0", tags=["us-east-1"], metadata={"location": "us-east-1"})

    registered = await remote.register(agent)
    await remote.heartbeat(agent.agent_id, HEALTHY)
    read, local_read = (
        await remote.get_agent(agent.agent_id),
        await registry.get_agent(agent.agent_id),
    )
    listed = await remote.list_agents(AgentStatus.ACTIVE)
    listed_by_name = await remote.list_agents("active")
    local_listed = await registry.list_agents(AgentStatus.ACTIVE)
    removed, removed_again = (
        await remote.deregister(agent.agent_id),
        await remote.deregister(agent.agent_id),
    )

    assert type(registered) is RegisteredAgent
    assert registered.descriptor == agent
    assert type(read) is RegisteredAgent
    assert read == local_read
    assert read.metrics is not None and read.metrics.cpu_usage == 0.4
    assert listed == local_listed == listed_by_name
    assert all(type(a) is RegisteredAgent for a in listed)
    assert (removed, removed_again) == (True, False)


async def test_discovery_through_the_client_equals_discovery_in_process(
    remote: RemoteAgentRegistry,
    registry: LocalAgentRegistry,
    descriptor: DescriptorFactory,
    unique: str,
) -> None:
    for name, version, tags in (
        ("old", "1.4.0", ["eu-west-1"]),
        ("new", "2.1.0", ["us-east-1"]),
        ("newer", "2.3.0", ["eu-west-1"]),
        ("validator", "2.0.0", ["eu-west-1"]),
    ):
        types = [ServiceType.VALIDATION] if name == "validator" else [ServiceType.COMPUTATION]
        await remote.register(descriptor(name, version=version, tags=tags, service_types=types))
        await remote.heartbeat(f"agent-{name}-{unique}", HEALTHY)
    query = {
        "capabilities": [f"carbon-{unique}"],
        "service_types": [ServiceType.COMPUTATION, "analysis"],
        "version_constraint": ">=2.0,<3",
        "min_health_score": 0.5,
        "location_preference": "eu-west-1",
        "max_results": 5,
    }

    over_http = await remote.discover(DiscoveryQuery.build(**query))  # type: ignore[arg-type]
    in_process = await registry.discover(DiscoveryQuery.build(**query))  # type: ignore[arg-type]

    assert over_http == in_process
    assert [a.agent_id for a in over_http] == [f"agent-newer-{unique}", f"agent-new-{unique}"]


async def test_the_client_raises_the_local_registry_errors(
    remote: RemoteAgentRegistry, descriptor: DescriptorFactory, unique: str
) -> None:
    agent = await remote.register(descriptor())
    ghost = f"agent-ghost-{unique}"

    with pytest.raises(AgentNotFoundError) as not_found:
        await remote.get_agent(ghost)
    with pytest.raises(AgentNotFoundError):
        await remote.heartbeat(ghost, HEALTHY)
    with pytest.raises(ValidationError) as bad_metrics:
        await remote.heartbeat(agent.agent_id, {"cpu_usage": 3, "error_rate": -1})
    with pytest.raises(ValidationError) as bad_query:
        await remote.discover(DiscoveryQuery(max_results=0))
    with pytest.raises(ValidationError) as bad_status:
        await remote.list_agents("sleepy")

    assert not_found.value.agent_id == ghost
    assert isinstance(not_found.value, LookupError)
    assert {e["field"] for e in bad_metrics.value.errors} == {"cpu_usage", "error_rate"}
    assert [e["field"] for e in bad_query.value.errors] == ["body.max_results"]
    assert [e["field"] for e in bad_status.value.errors] == ["query.status"]


async def test_a_heartbeat_batch_reports_each_agent(
    remote: RemoteAgentRegistry,
    registry: LocalAgentRegistry,
    descriptor: DescriptorFactory,
    unique: str,
) -> None:
    agent = await remote.register(descriptor())

    result = await remote.heartbeats(
        {agent.agent_id: HEALTHY, f"agent-ghost-{unique}": None, "-not-an-id": {"cpu_usage": 2}}
    )

    assert type(result) is HeartbeatBatchResult
    assert result.accepted == [agent.agent_id]
    assert result.unknown == [f"agent-ghost-{unique}"]
    assert [r.agent_id for r in result.rejected] == ["-not-an-id"]
    assert registry.pending_heartbeats == 1


async def test_rules_loads_and_routes_through_the_client(
    remote: RemoteAgentRegistry,
    router: MessageRouter,
    descriptor: DescriptorFactory,
    unique: str,
) -> None:
    first, second = await remote.register(descriptor("a")), await remote.register(descriptor("b"))
    rule = RouteRule(
        name=f"rule-{unique}",
        condition=f"sender_id == 'sender-{unique}'",
        targets=[first.agent_id, second.agent_id],
        strategy=RoutingStrategy.FAILOVER,
    )

    stored = await remote.put_route_rule(rule)
    listed = await remote.route_rules()
    await router.refresh()
    await remote.update_agent_load(
        first.agent_id,
        LoadInfo(
            agent_id=first.agent_id,
            message_queue_size=1,
            processing_time_ms=10,
            error_rate=0,
            capacity=10,
        ),
    )
    routed = await remote.route(Message(sender_id=f"sender-{unique}"))
    broadcast = await remote.route(Message(sender_id=f"sender-{unique}"), RoutingStrategy.BROADCAST)
    with pytest.raises(RoutingError, match="no route rule matches"):
        await remote.route(Message(sender_id=f"stranger-{unique}"))
    with pytest.raises(ValidationError) as refused:
        await remote.put_route_rule(rule.model_copy(update={"condition": "open('/etc/passwd')"}))
    deleted, deleted_again = (
        await remote.delete_route_rule(rule.name),
        await remote.delete_route_rule(rule.name),
    )

    assert stored == rule
    assert rule in listed
    assert routed == [first.agent_id]
    assert sorted(broadcast) == sorted([first.agent_id, second.agent_id])
    assert [e["field"] for e in refused.value.errors] == ["body.condition"]
    assert (deleted, deleted_again) == (True, False)


async def test_an_unreachable_service_is_a_retriable_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    remote = RemoteAgentRegistry(url, timeout_s=2)

    with pytest.raises(RegistryError) as raised:
        await remote.list_agents()
    await remote.close()

    assert raised.value.retriable is True
    assert url in str(raised.value)


@pytest_asyncio.fixture
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_a_service_that_does_not_answer_in_time_is_a_retriable_error(
    silent_server: str,
) -> None:
    remote = RemoteAgentRegistry(silent_server, timeout_s=0.2)

    with pytest.raises(RegistryError, match="did not answer") as raised:
        await remote.get_agent("agent-1")
    await remote.close()

    assert raised.value.retriable is True
    assert silent_server in str(raised.value)


@pytest.mark.parametrize(
    ("status", "body", "retriable"),
    [
        (404, b"<html>not here</html>", False),
        (502, b"bad gateway", True),
        (500, b'{"error": "internal error", "code": "internal", "problems": []}', False),
    ],
)
async def test_answers_of_something_else_than_the_service_are_registry_errors(
    status: int, body: bytes, retriable: bool
) -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    remote = RemoteAgentRegistry("http://proxy.test", transport=httpx.MockTransport(answer))

    with pytest.raises(RegistryError) as raised:
        await remote.get_agent("agent-1")
    await remote.close()

    assert not isinstance(raised.value, AgentNotFoundError)
    assert raised.value.retriable is retriable
    assert str(status) in str(raised.value)


async def test_an_answer_that_is_not_the_expected_model_is_a_registry_error() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"hello": "world"})

    remote = RemoteAgentRegistry("http://other.test", transport=httpx.MockTransport(answer))

    with pytest.raises(RegistryError, match="is it a registry service"):
        await remote.get_agent("agent-1")
    await remote.close()


async def test_a_closed_client_says_so() -> None:
    remote = RemoteAgentRegistry("http://registry.test")
    await remote.close()

    with pytest.raises(RegistryError, match="closed"):
        await remote.list_agents()


@pytest.mark.parametrize(
    ("base_url", "token", "field"),
    [("registry:8000", None, "base_url"), ("http://registry", "tok en\n", "token")],
)
def test_an_unusable_base_url_or_token_is_a_validation_error(
    base_url: str, token: str | None, field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        RemoteAgentRegistry(base_url, token=token)

    assert raised.value.errors[0]["field"] == field
    assert "tok en" not in str(raised.value)


async def test_register_many_sends_batches_of_a_thousand_and_returns_every_agent(
    remote: RemoteAgentRegistry, registry: LocalAgentRegistry, descriptor: DescriptorFactory
) -> None:
    agents = [descriptor(f"many{index:04d}") for index in range(1_005)]

    registered = await remote.register_many(agents)

    assert [a.descriptor for a in registered] == agents
    listed = {a.agent_id for a in await registry.list_agents()}
    assert {a.agent_id for a in agents} <= listed


async def test_register_many_checks_every_descriptor_before_sending_any(
    remote: RemoteAgentRegistry, registry: LocalAgentRegistry, descriptor: DescriptorFactory
) -> None:
    good = descriptor("first")
    bad = descriptor("second", metadata={"when": object()})

    with pytest.raises(ValidationError) as raised:
        await remote.register_many([good, bad])

    assert [e["field"] for e in raised.value.errors] == ["descriptors[1].metadata"]
    assert good.agent_id not in {a.agent_id for a in await registry.list_agents()}
