"""Agents that answer on the bus (``kafka://`` endpoints) as saga steps, by id and by
capability: the orchestration worker's ``orchestration.kafka_call`` sends the request and
waits for the reply."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle

from activities.kafka_agent import kafka_handler
from bus.message import Message, MessageType
from bus.message_bus import MessageBus
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import RequestFailedError, SagaError
from orchestration.core.retry import RetrySpec
from orchestration.core.settings import RouteConfig
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor
from tests.workflows.saga_support import DEADLINE_S, FAST_RETRY, SagaAgent, saga_worker
from workflows.saga_models import SagaState, SagaStep, SagaTransaction

CAPABILITY = "carbon_calculation"
QUICK = RouteConfig(start_timeout_ms=1000, wait_ms=60_000)


@pytest.fixture(scope="module")
def kafka(kafka_bootstrap_servers: str) -> KafkaConfig:
    return KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bus(kafka: KafkaConfig) -> AsyncIterator[MessageBus]:
    async with MessageBus(kafka) as message_bus:
        yield message_bus


@dataclass
class Setting:
    """What every test here runs on: Temporal, a registry, the broker and a bus."""

    client: Client
    unique: str
    registry: LocalAgentRegistry
    kafka: KafkaConfig
    bus: MessageBus

    @contextlib.asynccontextmanager
    async def sagas(self, *agents: SagaAgent) -> AsyncIterator[SagaOrchestrator]:
        """The agents answering on the bus, and an orchestration worker routing with the
        registry and calling over the broker."""
        async with contextlib.AsyncExitStack() as stack:
            for agent in agents:
                await stack.enter_async_context(agent.serving(self.bus))
            yield await stack.enter_async_context(
                saga_worker(
                    self.client,
                    self.unique,
                    kafka=self.kafka,
                    registry=self.registry,
                    route=QUICK,
                )
            )


@pytest.fixture
def setting(
    temporal_client: Client,
    unique: str,
    sqlite_registry: LocalAgentRegistry,
    kafka: KafkaConfig,
    bus: MessageBus,
) -> Setting:
    return Setting(temporal_client, unique, sqlite_registry, kafka, bus)


def kafka_agent(name: str, unique: str, *steps: str) -> SagaAgent:
    agent_id = f"kafka-{name}-{unique}"
    return SagaAgent(agent_id, steps, endpoint=f"kafka://{agent_id}")


async def register(registry: LocalAgentRegistry, agent: SagaAgent, location: str) -> None:
    descriptor = agent.agent.descriptor.model_copy(
        update={"capabilities": [CAPABILITY], "metadata": {"location": location}}
    )
    await registry.register(AgentDescriptor.model_validate(descriptor.model_dump()))


def routed(name: str, *depends_on: str, **options: object) -> SagaStep:
    return SagaStep(
        name,
        capability=CAPABILITY,
        action=f"do-{name}",
        compensation=f"undo-{name}",
        depends_on=list(depends_on),
        retry_policy=options.pop("retry_policy", FAST_RETRY),
        **options,
    )


async def test_a_kafka_agent_is_a_step_by_id_and_by_capability(setting: Setting) -> None:
    unique, registry = setting.unique, setting.registry
    named = kafka_agent("named", unique, "a")
    found = kafka_agent("found", unique, "b")
    await register(registry, found, "eu-west-1")
    saga = SagaTransaction(steps=[named.step("a"), routed("b", "a")])
    async with setting.sagas(named, found) as sagas:
        outputs = await sagas.execute(saga, {"company": "acme"})
        status = await sagas.get_execution_status(saga.transaction_id)
    assert outputs == {"a": {"step": "a", "attempt": 1}, "b": {"step": "b", "attempt": 1}}
    assert status.steps["b"].agent_id == found.agent_id
    [call] = named.calls
    assert call.data == {"company": "acme"}
    assert call.ctx.idempotency_key == f"{saga.transaction_id}/a"
    assert call.ctx.caller == saga.transaction_id
    assert found.calls[0].ctx.context["dependencies"] == {"a": {"step": "a", "attempt": 1}}


async def test_an_error_reply_that_retrying_cannot_help_compensates_on_the_kafka_agents(
    setting: Setting,
) -> None:
    unique, registry = setting.unique, setting.registry
    named = kafka_agent("undone", unique, "a")
    found = kafka_agent("refusing", unique, "b")
    found.broken.add("do:b")
    await register(registry, found, "eu-west-1")
    retry = RetrySpec(maximum_attempts=5, initial_interval_ms=1, maximum_interval_ms=1)
    saga = SagaTransaction(steps=[named.step("a"), routed("b", "a", retry_policy=retry)])
    async with setting.sagas(named, found) as sagas:
        with pytest.raises(SagaError) as failed:
            await sagas.execute(saga)
    execution = failed.value.execution
    assert execution.state == SagaState.COMPENSATED
    assert len(found.calls) == 1  # refused for good: neither retried nor routed elsewhere
    assert execution.steps["b"].error == "AgentError: b can never work (non-retryable)"
    assert named.log == ["do:a", "done:a", "undo:a", "undone:a"]


async def test_a_call_retried_after_its_reply_was_late_is_answered_not_redone(
    setting: Setting,
) -> None:
    slow = kafka_agent("slow", setting.unique, "x")
    gate = slow.gate("do:x")
    retry = RetrySpec(maximum_attempts=10, initial_interval_ms=1, maximum_interval_ms=1)
    saga = SagaTransaction(steps=[slow.step("x", timeout_ms=1500, retry_policy=retry)])
    async with setting.sagas(slow) as sagas:
        handle = await sagas.start(saga)
        await slow.reached("do:x")
        await _attempt(handle, 2)  # the first attempt gave up waiting for the reply
        gate.set()
        outputs = await asyncio.wait_for(sagas.execute(saga), DEADLINE_S)
    assert outputs == {"x": {"step": "x", "attempt": 1}}
    assert slow.log == ["do:x", "done:x"]  # the effect, once


async def test_a_kafka_agent_that_does_not_answer_is_passed_over_with_the_same_key(
    setting: Setting,
) -> None:
    unique, registry = setting.unique, setting.registry
    gone = kafka_agent("gone", unique, "x")  # registered, preferred, and not serving
    alive = kafka_agent("alive", unique, "x")
    await register(registry, gone, "eu-west-1")
    await register(registry, alive, "us-east-1")
    saga = SagaTransaction(steps=[routed("x", location="eu-west-1", timeout_ms=1000)])
    async with setting.sagas(alive) as sagas:
        await sagas.execute(saga)
        status = await sagas.get_execution_status(saga.transaction_id)
    assert status.steps["x"].agent_id == alive.agent_id
    [call] = alive.calls
    assert call.ctx.idempotency_key == f"{saga.transaction_id}/x"


async def test_a_request_the_agent_cannot_read_gets_an_error_reply_naming_the_field(
    unique: str, bus: MessageBus
) -> None:
    agent = kafka_agent("strict", unique, "x")
    async with agent.serving(bus):
        answers = []
        for payload in (
            {"data": {}, "idempotency_key": "k"},
            {"action": "do-y", "idempotency_key": "k"},
        ):
            request = Message(
                sender_id="test",
                recipient_id=agent.agent_id,
                message_type=MessageType.REQUEST,
                payload=payload,
            )
            with pytest.raises(RequestFailedError) as refused:
                await bus.request_response(request, timeout_ms=int(DEADLINE_S * 1000))
            answers.append(refused.value)
    assert [answer.retriable for answer in answers] == [False, False]
    assert f"invalid request to {agent.agent_id}: action: Field required" in str(answers[0])
    assert f"action 'do-y' is not an action of {agent.agent_id}" in str(answers[1])
    assert agent.calls == []


def test_the_handler_remembers_at_least_one_call() -> None:
    agent = kafka_agent("any", "u", "x")
    with pytest.raises(ValueError, match="remember must be at least 1"):
        kafka_handler(agent.agent, remember=0)


async def _attempt(handle: WorkflowHandle[object, object], attempt: int) -> None:
    """Wait until the saga's pending activity is on ``attempt`` (or later)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].attempt >= attempt:
                return
            await asyncio.sleep(0.05)
