"""Agents register themselves and heartbeat what they did, against a real registry service."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.agent import Agent
from activities.context import ActionContext
from activities.presence import ActionStats, AgentPresence
from orchestration.core.exceptions import AgentError, AgentNotFoundError
from orchestration.core.settings import Settings
from orchestration.testing.ports import free_port
from registry.models import AgentDescriptor
from registry.remote_registry import RemoteAgentRegistry
from tests.registry.service.test_serve import serving, settings_for

DEADLINE_S = 20.0


def test_stats_report_the_window_since_the_last_heartbeat() -> None:
    stats = ActionStats()
    stats.record(10.0, failed=False)
    stats.record(30.0, failed=True)
    first = stats.take()
    assert (first["error_rate"], first["response_time_ms"]) == (0.5, 20.0)
    assert 0.0 <= first["cpu_usage"] <= 1.0
    assert set(stats.take()) == {"cpu_usage"}  # nothing finished since: no rate, no time


async def agent_record(url: str, agent_id: str, predicate: object = None) -> dict[str, object]:
    """Poll the service until the agent is there (and ``predicate`` holds); its JSON."""
    deadline = time.monotonic() + DEADLINE_S
    async with RemoteAgentRegistry(url) as registry:
        while True:
            try:
                agent = (await registry.get_agent(agent_id)).model_dump(mode="json")
                if predicate is None or predicate(agent):  # type: ignore[operator]
                    return agent
            except AgentNotFoundError:
                pass
            assert time.monotonic() < deadline, f"{agent_id} never showed as expected"
            await asyncio.sleep(0.05)


async def test_an_agent_registers_once_the_registry_answers_and_heartbeats_its_errors(
    tmp_path: Path, unique: str
) -> None:
    port = free_port()
    settings = settings_for(tmp_path, port, heartbeat_interval_s=0.2)
    stats = ActionStats()
    descriptor = AgentDescriptor(agent_id=f"calc-{unique}", agent_type="Calc")
    async with AgentPresence(descriptor, stats, settings) as presence:
        await asyncio.sleep(0)  # the registry is down: the agent retries in the background
        assert not presence.registered.is_set()
        async with serving(settings, handle_signals=False):
            await asyncio.wait_for(presence.registered.wait(), DEADLINE_S)
            stats.record(5.0, failed=True)
            agent = await agent_record(
                settings.registry.service_url,
                descriptor.agent_id,
                lambda a: (a["metrics"] or {}).get("error_rate") == 1.0,
            )
    assert agent["metrics"]["response_time_ms"] == 5.0  # type: ignore[index]
    assert presence.heartbeats >= 1


async def test_agent_run_registers_the_agent_by_default(
    temporal_dev_env: WorkflowEnvironment, tmp_path: Path, unique: str
) -> None:
    port = free_port()
    settings = settings_for(tmp_path, port, heartbeat_interval_s=0.2)
    agent = Agent(AgentDescriptor(agent_id=f"hello-{unique}", agent_type="Hello"))

    @agent.action("greet")
    async def greet(data: dict[str, str], ctx: ActionContext) -> dict[str, str]:
        return {"greeting": f"hi {data['name']}"}

    stop = asyncio.Event()
    async with serving(settings, handle_signals=False):
        running = asyncio.create_task(
            agent.run(settings, client=temporal_dev_env.client, stop=stop)
        )
        try:
            record = await agent_record(settings.registry.service_url, agent.agent_id)
        finally:
            stop.set()
            await running
        quiet = Agent(AgentDescriptor(agent_id=f"quiet-{unique}", agent_type="Hello"))
        quiet.action("greet")(greet)
        stop.clear()
        no_register = Settings(**{**settings.model_dump(), "agent_register": False})
        running = asyncio.create_task(
            quiet.run(no_register, client=temporal_dev_env.client, stop=stop)
        )
        await asyncio.sleep(0.5)  # several heartbeat intervals: it would have registered
        stop.set()
        await running
        async with RemoteAgentRegistry(settings.registry.service_url) as registry:
            listed = [a.descriptor.agent_id for a in await registry.list_agents()]
    assert record["descriptor"]["agent_id"] == agent.agent_id  # type: ignore[index]
    assert quiet.agent_id not in listed


async def test_a_stopped_agent_deregisters_and_a_replica_registers_again(
    tmp_path: Path, unique: str
) -> None:
    port = free_port()
    settings = settings_for(tmp_path, port, heartbeat_interval_s=0.2)
    descriptor = AgentDescriptor(agent_id=f"replicated-{unique}", agent_type="Calc")
    async with serving(settings, handle_signals=False):
        url = settings.registry.service_url
        async with AgentPresence(descriptor, ActionStats(), settings) as replica:
            async with AgentPresence(descriptor, ActionStats(), settings) as stopping:
                await asyncio.wait_for(stopping.registered.wait(), DEADLINE_S)
                await asyncio.wait_for(replica.registered.wait(), DEADLINE_S)
            # The stopped one deregistered; the one still running is told at its next
            # heartbeat and registers again.
            await agent_record(url, descriptor.agent_id)
        async with RemoteAgentRegistry(url) as registry:
            listed = [a.descriptor.agent_id for a in await registry.list_agents()]
    assert descriptor.agent_id not in listed  # both stopped: nothing left behind


async def test_a_business_rejection_is_not_an_error_of_the_agent() -> None:
    agent = Agent(AgentDescriptor(agent_id="validator", agent_type="Validator"))

    @agent.action("validate")
    async def validate(data: dict[str, int], ctx: ActionContext) -> None:
        if data["quantity"] < 0:
            raise AgentError("quantity is negative", retriable=False)  # the agent's answer
        raise AgentError("the reference database is down", retriable=True)  # its failure

    ctx = ActionContext("validator", "validate", "key", None, 1)
    for quantity in (-1, 5):
        with pytest.raises(ApplicationError):
            await agent.invoke("validate", {"quantity": quantity}, ctx)
    assert (agent.stats.calls, agent.stats.failures) == (2, 1)
