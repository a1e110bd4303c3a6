"""A saga's priority and fairness key reach every call it schedules: each activity of its
history carries them (how Temporal orders the calls is the server's part)."""

from __future__ import annotations

import contextlib

from temporalio.client import Client, WorkflowFailureError

from tests.workflows.saga_support import SagaAgent, saga_worker
from workflows.saga_models import SagaTransaction


async def scheduled_priorities(client: Client, workflow_id: str) -> list[tuple[str, int, str]]:
    """(activity type, priority key, fairness key) of every activity the run scheduled."""
    found = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            priority = scheduled.priority
            found.append(
                (scheduled.activity_type.name, priority.priority_key, priority.fairness_key)
            )
    return found


async def test_every_call_of_an_urgent_saga_carries_its_priority_and_fairness_key(
    temporal_client: Client, unique: str
) -> None:
    agent = SagaAgent(f"prio-{unique}", ["a", "b"])
    agent.broken.add("do:b")  # so the compensation of a is scheduled too
    urgent = SagaTransaction(
        steps=[agent.step("a"), agent.step("b", "a")], priority=1, fairness_key="acme"
    )
    plain = SagaTransaction(steps=[agent.step("a", compensation=None)])
    async with saga_worker(temporal_client, unique, agent) as sagas:
        await sagas.start(urgent)
        await sagas.execute(plain)
        with contextlib.suppress(WorkflowFailureError):  # b fails, a is compensated
            await temporal_client.get_workflow_handle(urgent.transaction_id).result()
    assert await scheduled_priorities(temporal_client, urgent.transaction_id) == [
        ("do-a", 1, "acme"),
        ("do-b", 1, "acme"),
        ("undo-a", 1, "acme"),
    ]
    assert await scheduled_priorities(temporal_client, plain.transaction_id) == [("do-a", 0, "")]
