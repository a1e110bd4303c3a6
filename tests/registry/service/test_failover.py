"""A client of several registry services: it spreads over them and fails over to the next
when one cannot be reached or is busy (real uvicorn servers on one database, and ports
nothing listens on)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import httpx
import pytest

from orchestration.core.connections import RegistryConfig
from orchestration.core.exceptions import RegistryError, ValidationError
from orchestration.testing.ports import free_port
from registry.discovery import DiscoveryQuery
from registry.models import AgentDescriptor
from registry.remote_registry import RemoteAgentRegistry
from tests.registry.service.test_serve import serving, settings_for


async def test_a_dead_replica_first_in_the_list_is_skipped_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live, dead = free_port(), free_port()
    urls = f"http://127.0.0.1:{dead},http://127.0.0.1:{live}"
    agents = [
        AgentDescriptor(agent_id=f"failover-{n}", agent_type="Calc", capabilities=["c"])
        for n in range(20)
    ]
    async with (
        serving(settings_for(tmp_path, live), handle_signals=False),
        RemoteAgentRegistry(urls, timeout_s=5) as remote,
    ):
        # The dead one first, as every other client would start there (the start may have
        # failed over already: count from here).
        remote._current = 0
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="registry.remote_registry"):
            for agent in agents:
                await remote.register(agent)
                await remote.heartbeat(agent.agent_id, {"cpu_usage": 0.1})
            found = await remote.discover(DiscoveryQuery.build(capabilities=["c"], max_results=100))
        assert remote.base_url == f"http://127.0.0.1:{live}"  # it stays on the live one
    assert {a.agent_id for a in found} == {a.agent_id for a in agents}
    switches = [r for r in caplog.records if "using http://127.0.0.1" in r.getMessage()]
    assert len(switches) == 1, [r.getMessage() for r in caplog.records]
    assert f"cannot reach the registry at http://127.0.0.1:{dead}" in switches[0].getMessage()


async def test_when_no_replica_answers_the_error_is_retriable_and_names_each() -> None:
    first, second = free_port(), free_port()
    urls = [f"http://127.0.0.1:{first}", f"http://127.0.0.1:{second}"]
    remote = RemoteAgentRegistry(urls, timeout_s=2)
    try:
        with pytest.raises(RegistryError) as info:
            await remote.get_agent("anyone")
    finally:
        await remote.close()
    assert info.value.retriable
    message = str(info.value)
    assert message.startswith("no registry service answered GET /agents/anyone")
    assert urls[0] in message and urls[1] in message


async def test_a_busy_replica_hands_the_request_to_the_next_but_a_refusal_does_not() -> None:
    calls: Counter[str] = Counter()

    def handler(request: httpx.Request) -> httpx.Response:
        calls[request.url.host] += 1
        if request.url.host == "busy":
            return httpx.Response(503, json={"error": "the database is unavailable"})
        if request.url.path == "/agents/missing":
            return httpx.Response(404, json={"error": "no agent", "code": "agent_not_found"})
        return httpx.Response(200, json=[])

    transport = httpx.MockTransport(handler)
    remote = RemoteAgentRegistry("http://busy,http://calm", transport=transport)
    remote._current = 0
    try:
        assert await remote.list_agents() == []
        assert calls == {"busy": 1, "calm": 1}
        # A 404 is an answer: asking the other replica would not change it.
        assert await remote.deregister("missing") is False
        assert calls == {"busy": 1, "calm": 2}
    finally:
        await remote.close()


def test_many_clients_spread_over_the_replicas() -> None:
    urls = "http://a:8000,http://b:8000,http://c:8000"
    picked = Counter(RemoteAgentRegistry(urls).base_url for _ in range(60))
    assert picked == {"http://a:8000": 20, "http://b:8000": 20, "http://c:8000": 20}


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("http://a:8000,ftp://b", "must start with http:// or https://"),
        ("http://a:8000,http://a:8000/", "names a URL twice"),
        (" , ", "names no URL"),
    ],
)
def test_a_bad_list_of_services_is_refused_naming_the_setting(given: str, problem: str) -> None:
    with pytest.raises(ValidationError) as info:
        RemoteAgentRegistry(given)
    assert problem in str(info.value)
    with pytest.raises(ValueError, match=problem):
        RegistryConfig(url=given)


def test_the_setting_takes_a_comma_separated_list() -> None:
    config = RegistryConfig(url=" http://a:8000/ , http://b:8000")
    assert config.url == "http://a:8000,http://b:8000"
    assert config.service_urls == ["http://a:8000", "http://b:8000"]
