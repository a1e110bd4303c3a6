"""Process entry point for agents: ``orchestration agent package.module:attribute ...``.

An attribute may be one ``Agent`` or a list of them (e.g. ``examples.csrd.agents:ALL_AGENTS``);
every agent named runs in the one process, sharing its Temporal connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import sys
from collections.abc import Coroutine
from typing import Any

from temporalio.client import Client

from activities.agent import Agent
from activities.kafka_agent import run_on_bus
from bus.message_bus import MessageBus
from orchestration.core.exceptions import AgentError
from orchestration.core.settings import Settings
from orchestration.core.validation import polls_task_queue

__all__ = ["load_agent", "load_agents", "run_agent", "run_agents"]


def load_agent(spec: str) -> Agent:
    """Import the ``Agent`` named by ``module:attribute``.

    Raises:
        AgentError: the spec is malformed, the module or attribute is missing, or the
            attribute is not an ``Agent``.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AgentError(f"agent spec {spec!r} must look like 'package.module:attribute'")
    # Like uvicorn: modules in the current directory are importable by default.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentError(f"cannot import {module_name!r} for agent {spec!r}: {exc}") from exc
    if not hasattr(module, attribute):
        agents = sorted(
            name
            for name, value in vars(module).items()
            if isinstance(value, Agent)
            or (
                isinstance(value, list | tuple)
                and value
                and all(isinstance(a, Agent) for a in value)
            )
        )
        there = f"its agents: {', '.join(agents)}" if agents else "it defines no Agent"
        raise AgentError(f"module {module_name!r} has no attribute {attribute!r} ({there})")
    found = getattr(module, attribute)
    if not isinstance(found, Agent):
        raise AgentError(f"{spec!r} is {type(found).__name__}, not an orchestration Agent")
    return found


def load_agents(specs: list[str]) -> list[Agent]:
    """The agents named by ``module:attribute`` specs, each one ``Agent`` or a list of them.

    Raises:
        AgentError: a spec cannot be loaded, names no agent, or two agents share an id.
    """
    agents: list[Agent] = []
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        try:
            agents.append(load_agent(spec))
            continue
        except AgentError:
            found = getattr(sys.modules.get(module_name), attribute, None)
            if not (isinstance(found, list | tuple) and found):
                raise
        bad = [type(a).__name__ for a in found if not isinstance(a, Agent)]
        if bad:
            raise AgentError(f"{spec!r} holds {', '.join(sorted(set(bad)))}, not only Agents")
        agents.extend(found)
    ids = [a.agent_id for a in agents]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise AgentError(f"agent ids named more than once: {', '.join(twice)}")
    return agents


def run_agent(
    agent: Agent,
    settings: Settings,
    *,
    client: Client | None,
    bus: MessageBus | None,
    stop: asyncio.Event,
) -> Coroutine[Any, Any, None]:
    """Run one agent until ``stop`` is set: on the bus when its endpoint is ``kafka://``
    (on ``bus``, else one of its own), else as a Temporal worker (on ``client``, else a
    connection of its own)."""
    if polls_task_queue(agent.descriptor.endpoint):
        return agent.run(settings, client=client, stop=stop)
    return run_on_bus(agent, settings, bus=bus, stop=stop)


async def run_agents(agents: list[Agent], settings: Settings) -> None:
    """Run every agent until SIGINT/SIGTERM: those with a ``kafka://`` endpoint answering
    their bus inbox on one bus, the others as Temporal workers on one connection."""
    from orchestration.core.lifecycle import wait_for_stop_signal
    from orchestration.core.metrics import sdk_runtime
    from orchestration.core.temporal_client import connect

    endpoints = [a.descriptor.endpoint for a in agents]
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        client = None
        if any(polls_task_queue(e) for e in endpoints):
            client = await connect(settings, runtime=sdk_runtime(settings))
        bus = None
        if not all(polls_task_queue(e) for e in endpoints):
            bus = await stack.enter_async_context(MessageBus(settings.kafka))
        runs = [
            asyncio.create_task(run_agent(a, settings, client=client, bus=bus, stop=stop))
            for a in agents
        ]
        try:
            await wait_for_stop_signal()
        finally:
            stop.set()
            await asyncio.gather(*runs)
