"""SagaOrchestrator with a bus publishes lifecycle events to saga.events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bus.message_bus import MessageBus
from orchestration.clients.saga import SAGA_EVENTS_TOPIC
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import SagaError
from tests.workflows.saga_support import SagaAgent, saga_worker
from workflows.saga_models import SagaTransaction

DATA = {"company": "acme", "year": 2024}


@pytest.fixture
def client(temporal_time_skipping_env: WorkflowEnvironment) -> Client:
    return temporal_time_skipping_env.client


async def test_a_completed_and_a_compensated_saga_announce_their_lifecycle(
    client: Client, kafka_bootstrap_servers: str, unique: str
) -> None:
    agent = SagaAgent(f"agent-{unique}", ["a", "b", "fail"])
    good = SagaTransaction(steps=[agent.step("a"), agent.step("b", "a")])
    bad = SagaTransaction(steps=[agent.step("a"), agent.step("fail", "a")])
    agent.broken.add("do:fail")
    async with MessageBus(KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers])) as bus:
        async with saga_worker(client, unique, agent) as orchestrator:
            orchestrator.bus = bus
            await orchestrator.execute(good, DATA)
            with pytest.raises(SagaError):
                await orchestrator.execute(bad, DATA)
        ours = {good.transaction_id, bad.transaction_id}
        events: list[dict[str, Any]] = []
        async with bus.subscribe([SAGA_EVENTS_TOPIC], f"events-{unique}") as subscription:
            async with asyncio.timeout(20):
                async for message in subscription:
                    if message.payload["transaction_id"] in ours:
                        events.append(message.payload)
                    if len(events) == 4:
                        break
    by_saga = {t: [e["event"] for e in events if e["transaction_id"] == t] for t in ours}
    assert by_saga[good.transaction_id] == ["saga.started", "saga.completed"]
    assert by_saga[bad.transaction_id] == ["saga.started", "saga.compensated"]
    [ended] = [e for e in events if e["event"] == "saga.compensated"]
    assert ended["state"] == "COMPENSATED"
    assert ended["steps"] == {"a": "COMPENSATED", "fail": "FAILED"}
    assert "error" in ended


async def test_a_bus_failure_never_fails_the_saga(client: Client, unique: str) -> None:
    class BrokenBus:
        async def publish(self, *_args: object) -> None:
            raise OSError("broker down")

    agent = SagaAgent(f"agent-{unique}", ["a"])
    async with saga_worker(client, unique, agent) as orchestrator:
        orchestrator.bus = BrokenBus()
        outputs = await orchestrator.execute(SagaTransaction(steps=[agent.step("a")]), DATA)
    assert list(outputs) == ["a"]


async def test_sagas_with_events_ask_for_approvals_and_operators_through_the_bus(
    client: Client, kafka_bootstrap_servers: str, unique: str
) -> None:
    from workflows.saga_models import Approval, SagaStep

    agent = SagaAgent(f"agent-{unique}", ["collect"])
    transaction = SagaTransaction(
        steps=[
            agent.step("collect"),
            SagaStep("sign_off", approval=Approval(approvers=["cfo"]), depends_on=["collect"]),
        ]
    )
    tx_id = transaction.transaction_id
    kafka = KafkaConfig(bootstrap_servers=[kafka_bootstrap_servers])
    async with (
        MessageBus(kafka) as bus,
        bus.subscribe([SAGA_EVENTS_TOPIC], f"notices-{unique}") as subscription,
        saga_worker(client, unique, agent, kafka=kafka) as orchestrator,
    ):
        orchestrator.bus = bus
        await orchestrator.start(transaction, DATA)
        async with asyncio.timeout(20):
            async for message in subscription:
                if message.payload.get("transaction_id") == tx_id:
                    notice = message.payload
                    break
        await orchestrator.approve(tx_id, "sign_off", approver="cfo")
        await orchestrator.execute(transaction, DATA)

    assert notice["event"] == "saga.approval_requested"
    assert (notice["step"], notice["reason"]) == ("sign_off", "awaiting approval by cfo")
    assert notice["web_ui"].endswith(f"/workflows/{tx_id}")
