"""A scriptable agent and a running orchestration worker for saga tests.

The agent runs step ``x`` as action ``do-x`` and undoes it with ``undo-x``, and logs what
happened in the order it saw it: ``do:x`` when the action starts, ``done:x`` when it
completes, ``undo:x`` / ``undone:x`` / ``undo-failed:x`` for the compensation. Tests steer it with
``asyncio.Event`` gates and ``after`` barriers instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.service import RPCError

from activities.kafka_agent import kafka_handler
from bus.message_bus import MessageBus
from orchestration import ActionContext, Agent, AgentDescriptor
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import AgentError, SagaError
from orchestration.core.retry import RetrySpec
from orchestration.core.settings import RouteConfig, SagaConfig, Settings
from registry.backend import RegistryBackend
from workers.orchestration_worker import build_worker
from workflows.saga_models import SagaExecution, SagaStep, SagaTransaction

DEADLINE_S = 10.0
"""How long anything in these tests may wait for something that should happen at once."""

FAST_RETRY = RetrySpec(maximum_attempts=2, initial_interval_ms=1, maximum_interval_ms=1)


@dataclass
class Call:
    """One call the saga made to the agent."""

    action: str
    data: Any
    ctx: ActionContext


class SagaAgent:
    """A test agent for steps ``steps``; see the module docstring."""

    def __init__(self, agent_id: str, steps: Iterable[str], *, endpoint: str | None = None) -> None:
        self.agent = Agent(
            AgentDescriptor(agent_id=agent_id, agent_type="SagaTest", endpoint=endpoint)
        )
        self.log: list[str] = []
        self.calls: list[Call] = []
        self.gates: dict[str, asyncio.Event] = {}
        """Log entry (``do:x`` or ``undo:x``) → event the call waits for before finishing."""
        self.after: dict[str, list[str]] = {}
        """Log entry → entries that must appear before the call may finish (or it fails)."""
        self.failures: dict[str, int] = {}
        """Step → how many more calls of its action fail (retryably)."""
        self.broken: set[str] = set()
        """Log entries (``do:x`` or ``undo:x``) whose calls fail for good."""
        self.deaf: set[str] = set()
        """Gated log entries whose calls do not heartbeat while held, so they never learn of
        a cancellation and finish once released (like an agent without heartbeats)."""
        self._seen: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        for name in steps:
            self._declare(name)

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id

    def step(self, name: str, *depends_on: str, **options: Any) -> SagaStep:
        """A step on this agent with a compensation (pass ``compensation=None`` for none)."""
        options.setdefault("compensation", f"undo-{name}")
        options.setdefault("retry_policy", FAST_RETRY)
        options.setdefault("endpoint", self.agent.descriptor.endpoint)
        return SagaStep(name, self.agent_id, f"do-{name}", depends_on=list(depends_on), **options)

    def gate(self, entry: str) -> asyncio.Event:
        """Hold calls that log ``entry`` until the returned event is set."""
        return self.gates.setdefault(entry, asyncio.Event())

    def hold(self, *entries: str) -> None:
        """Hold calls that log any of ``entries`` until ``gates[entry]`` is set."""
        for entry in entries:
            self.gate(entry)

    def entries(self, prefix: str) -> list[str]:
        """Step names of the log entries starting with ``prefix`` (e.g. ``"undo:"``), in order."""
        return [e.removeprefix(prefix) for e in self.log if e.startswith(prefix)]

    def calls_of(self, action: str) -> list[Call]:
        return [c for c in self.calls if c.action == action]

    async def reached(self, entry: str) -> None:
        """Wait until ``entry`` is logged (``entry#n``: logged n times), at most DEADLINE_S."""
        await asyncio.wait_for(self._seen[entry].wait(), DEADLINE_S)

    @contextlib.asynccontextmanager
    async def running(self, client: Client) -> AsyncIterator[SagaAgent]:
        """Poll the agent's queue; on exit release every gate so no call is left hanging."""
        worker = self.agent.worker(
            client,
            graceful_shutdown_timeout=timedelta(0),
            # Deliver cancellation to heartbeating actions at once, not after 30 s.
            default_heartbeat_throttle_interval=timedelta(milliseconds=50),
            max_heartbeat_throttle_interval=timedelta(milliseconds=50),
        )
        async with worker:
            try:
                yield self
            finally:
                for gate in self.gates.values():
                    gate.set()

    @contextlib.asynccontextmanager
    async def serving(self, bus: MessageBus) -> AsyncIterator[SagaAgent]:
        """Answer the agent's bus inbox (a Kafka agent); on exit release every gate."""
        server = await bus.serve(self.agent_id, kafka_handler(self.agent), max_attempts=1)
        try:
            yield self
        finally:
            for gate in self.gates.values():
                gate.set()
            await server.stop()

    def _note(self, entry: str) -> None:
        self.log.append(entry)
        self._seen[entry].set()
        self._seen[f"{entry}#{self.log.count(entry)}"].set()

    async def _hold(self, entry: str, ctx: ActionContext) -> None:
        """Wait for the entry's gate (heartbeating, so cancellation arrives) and barrier."""
        gate = self.gates.get(entry)
        if gate is not None and entry in self.deaf:
            await gate.wait()
        while gate is not None and not gate.is_set():
            ctx.heartbeat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gate.wait(), 0.05)
        for other in self.after.get(entry, []):
            try:
                await self.reached(other)
            except TimeoutError:
                raise AgentError(
                    f"{entry}: {other} never happened", agent_id=ctx.agent_id
                ) from None

    def _declare(self, name: str) -> None:
        @self.agent.action(f"do-{name}")
        async def do(data: Any, ctx: ActionContext) -> dict[str, Any]:
            entry = f"do:{name}"
            self.calls.append(Call(f"do-{name}", data, ctx))
            self._note(entry)
            try:
                await self._hold(entry, ctx)
            except asyncio.CancelledError:
                self._note(f"cancelled:{name}")
                raise
            if entry in self.broken:
                raise AgentError(f"{name} can never work", agent_id=ctx.agent_id)
            if self.failures.get(name, 0) > 0:
                self.failures[name] -= 1
                self._note(f"failed:{name}")
                raise RuntimeError(f"{name} failed; {self.failures[name]} more failures to go")
            self._note(f"done:{name}")
            return {"step": name, "attempt": ctx.attempt}

        @self.agent.action(f"undo-{name}")
        async def undo(data: Any, ctx: ActionContext) -> dict[str, Any]:
            entry = f"undo:{name}"
            self.calls.append(Call(f"undo-{name}", data, ctx))
            self._note(entry)
            await self._hold(entry, ctx)
            if entry in self.broken:
                self._note(f"undo-failed:{name}")
                raise RuntimeError(f"undoing {name} failed")
            self._note(f"undone:{name}")
            return {"undone": name}


async def activity_cancel_requested(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the workflow's history shows an activity's cancellation was requested."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            async for event in handle.fetch_history_events():
                if event.HasField("activity_task_cancel_requested_event_attributes"):
                    return
            await asyncio.sleep(0.05)


async def saga_status(
    orchestrator: SagaOrchestrator,
    transaction_id: str,
    until: Callable[[SagaExecution], bool],
) -> SagaExecution:
    """Poll the saga's status until ``until`` holds for it (fail after DEADLINE_S)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            with contextlib.suppress(SagaError):  # not started yet
                status = await orchestrator.get_execution_status(transaction_id)
                if until(status):
                    return status
            await asyncio.sleep(0.02)


class _TrackingOrchestrator(SagaOrchestrator):
    """Remembers the sagas it started, so a failing test leaves none running behind it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.started: list[str] = []

    async def start(
        self, transaction: SagaTransaction, initial_data: Any = None
    ) -> WorkflowHandle[Any, SagaExecution]:
        self.started.append(transaction.transaction_id)
        return await super().start(transaction, initial_data)


async def _end_leftovers(client: Client, agents: Iterable[SagaAgent], ids: list[str]) -> None:
    """Let sagas a failing test left behind run to their end, or terminate them.

    One left running with an action in flight would stop the time-skipping server from
    skipping time for every later test of the session: release the gates so the actions
    finish while their saga is still open, and only then terminate what still runs.
    """
    for agent in agents:
        for gate in agent.gates.values():
            gate.set()
    for transaction_id in dict.fromkeys(ids):
        handle = client.get_workflow_handle(transaction_id)
        with contextlib.suppress(TimeoutError, WorkflowFailureError, RPCError):
            async with asyncio.timeout(DEADLINE_S):
                await handle.result()
        with contextlib.suppress(RPCError):
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("the test ended before the saga did")


@contextlib.asynccontextmanager
async def saga_worker(
    client: Client,
    unique: str,
    *agents: SagaAgent,
    config: SagaConfig | None = None,
    kafka: KafkaConfig | None = None,
    registry: RegistryBackend | None = None,
    route: RouteConfig | None = None,
) -> AsyncIterator[SagaOrchestrator]:
    """Run the agents and the orchestration worker (publishing notices to ``kafka``, routing
    steps by capability with ``registry``); yield an orchestrator using them."""
    options: dict[str, Any] = {"kafka": kafka} if kafka else {}
    if route is not None:
        options["route"] = route
    settings = Settings(task_queue=f"orch-{unique}", **options)
    orchestrator = _TrackingOrchestrator(
        client=client, settings=settings, config=config or SagaConfig()
    )
    async with contextlib.AsyncExitStack() as stack:
        for agent in agents:
            await stack.enter_async_context(agent.running(client))
        await stack.enter_async_context(build_worker(client, settings, registry=registry))
        stack.push_async_callback(_end_leftovers, client, agents, orchestrator.started)
        yield orchestrator
