"""Checking that a saga's agents run asks Temporal once per queue, not once per saga: a queue
seen polled is trusted for ``POLLED_FRESH_S``; one nobody polls is asked about every time."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from temporalio.client import Client

import orchestration.clients.workflow_client as workflow_client
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.settings import Settings


class FakeService:
    """``describe_task_queue`` that counts its calls; ``polled`` queues have a poller."""

    def __init__(self, polled: set[str]) -> None:
        self.polled = polled
        self.asked: list[str] = []

    async def describe_task_queue(self, request: Any) -> Any:
        self.asked.append(request.task_queue.name)
        return SimpleNamespace(pollers=["p"] if request.task_queue.name in self.polled else [])


def orchestrator(service: FakeService) -> SagaOrchestrator:
    client = SimpleNamespace(workflow_service=service, namespace="default")
    return SagaOrchestrator(settings=Settings(task_queue="orch"), client=cast(Client, client))


async def test_a_polled_queue_is_asked_about_once_within_the_freshness_window() -> None:
    service = FakeService({"agent-a"})
    sagas = orchestrator(service)
    for _ in range(3):
        assert await sagas.unpolled_agents([("steps.0.agent_id", "agent-a", None)]) == []
    assert service.asked == ["agent-a"]


async def test_a_queue_nobody_polls_is_asked_about_every_time() -> None:
    service = FakeService(set())
    sagas = orchestrator(service)
    ghost = [("steps.0.agent_id", "ghost", None)]
    assert await sagas.unpolled_agents(ghost, grace_s=0) == [("steps.0.agent_id", "ghost", "ghost")]
    assert await sagas.unpolled_agents(ghost, grace_s=0) == [("steps.0.agent_id", "ghost", "ghost")]
    assert service.asked == ["ghost", "ghost"]


async def test_a_polled_queue_is_asked_again_once_its_answer_is_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = FakeService({"agent-a"})
    sagas = orchestrator(service)
    agents = [("steps.0.agent_id", "agent-a", None)]
    await sagas.unpolled_agents(agents)
    monkeypatch.setattr(workflow_client, "POLLED_FRESH_S", 0.0)
    await sagas.unpolled_agents(agents)
    assert service.asked == ["agent-a", "agent-a"]
