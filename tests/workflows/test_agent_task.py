"""AgentTaskWorkflow + the agent runtime, in the time-skipping environment."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.agent import INVALID_INPUT
from orchestration import ActionContext, Agent, AgentDescriptor
from orchestration.core.exceptions import AgentError
from orchestration.core.retry import RetrySpec
from orchestration.core.search_attributes import ORCHESTRATION_STATE, ORCHESTRATION_TYPE
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput, AgentTaskResult


class Greeting(BaseModel):
    name: str


def make_agent(agent_id: str, endpoint: str | None = None) -> tuple[Agent, list[ActionContext]]:
    seen: list[ActionContext] = []
    agent = Agent(AgentDescriptor(agent_id=agent_id, agent_type="Test", endpoint=endpoint))

    @agent.action("greet")
    async def greet(data: Greeting, ctx: ActionContext) -> dict[str, Any]:
        seen.append(ctx)
        return {"greeting": f"hello {data.name}"}

    @agent.action("flaky")
    async def flaky(data: Any, ctx: ActionContext) -> str:
        seen.append(ctx)
        if ctx.attempt < 3:
            raise RuntimeError(f"transient failure on attempt {ctx.attempt}")
        return "finally"

    @agent.action("refuse")
    async def refuse(data: Any, ctx: ActionContext) -> None:
        seen.append(ctx)
        raise AgentError("this input can never work", agent_id=ctx.agent_id)

    return agent, seen


async def run_task(client: Client, queue: str, workflow_id: str, task: AgentTaskInput) -> Any:
    async with Worker(client, task_queue=queue, workflows=[AgentTaskWorkflow]):
        return await client.execute_workflow(
            AgentTaskWorkflow.run, task, id=workflow_id, task_queue=queue
        )


@pytest.fixture
def client(temporal_time_skipping_env: WorkflowEnvironment) -> Client:
    return temporal_time_skipping_env.client


async def test_an_action_runs_on_the_agents_queue_with_an_idempotency_key(
    client: Client, unique: str
) -> None:
    agent, seen = make_agent(f"agent-{unique}")
    workflow_id = f"task-{unique}"
    async with agent.worker(client):
        result = await run_task(
            client,
            f"orch-{unique}",
            workflow_id,
            AgentTaskInput(agent_id=agent.agent_id, action="greet", data={"name": "Ada"}),
        )
    assert isinstance(result, AgentTaskResult)
    assert result.output == {"greeting": "hello Ada"}
    assert result.idempotency_key == f"{workflow_id}/greet"
    assert [(c.idempotency_key, c.caller, c.attempt) for c in seen] == [
        (f"{workflow_id}/greet", workflow_id, 1)
    ]
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.typed_search_attributes.get(ORCHESTRATION_STATE) == "COMPLETED"
    assert description.typed_search_attributes.get(ORCHESTRATION_TYPE) == "agent_task"


async def test_retries_keep_the_same_idempotency_key(client: Client, unique: str) -> None:
    agent, seen = make_agent(f"agent-{unique}")
    async with agent.worker(client):
        result = await run_task(
            client,
            f"orch-{unique}",
            f"task-{unique}",
            AgentTaskInput(
                agent_id=agent.agent_id,
                action="flaky",
                retry=RetrySpec(maximum_attempts=5, initial_interval_ms=1000),
            ),
        )
    assert result.output == "finally"
    assert [c.attempt for c in seen] == [1, 2, 3]
    assert len({c.idempotency_key for c in seen}) == 1


async def test_input_the_handler_model_rejects_fails_at_once_naming_the_field(
    client: Client, unique: str
) -> None:
    agent, seen = make_agent(f"agent-{unique}")
    async with agent.worker(client):
        with pytest.raises(WorkflowFailureError) as info:
            await run_task(
                client,
                f"orch-{unique}",
                f"task-{unique}",
                AgentTaskInput(agent_id=agent.agent_id, action="greet", data={"nom": "x"}),
            )
    cause = info.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == INVALID_INPUT
    assert "name" in cause.cause.message
    assert seen == []  # the handler never ran, and nothing was retried


async def test_a_non_retriable_library_error_is_not_retried(client: Client, unique: str) -> None:
    agent, seen = make_agent(f"agent-{unique}")
    async with agent.worker(client):
        with pytest.raises(WorkflowFailureError) as info:
            await run_task(
                client,
                f"orch-{unique}",
                f"task-{unique}",
                AgentTaskInput(agent_id=agent.agent_id, action="refuse"),
            )
    assert isinstance(info.value.cause, ActivityError)
    assert isinstance(info.value.cause.cause, ApplicationError)
    assert info.value.cause.cause.type == "AgentError"
    assert len(seen) == 1


async def test_an_endpoint_naming_a_queue_routes_there(client: Client, unique: str) -> None:
    agent, _ = make_agent(f"agent-{unique}", endpoint=f"temporal://shared-{unique}")
    assert agent.task_queue == f"shared-{unique}"
    async with agent.worker(client):
        result = await run_task(
            client,
            f"orch-{unique}",
            f"task-{unique}",
            AgentTaskInput(
                agent_id=agent.agent_id,
                endpoint=f"temporal://shared-{unique}",
                action="greet",
                data={"name": "Grace"},
            ),
        )
    assert result.output == {"greeting": "hello Grace"}


async def test_any_worker_polling_the_queue_with_the_action_name_is_an_agent(
    client: Client, unique: str
) -> None:
    @activity.defn(name="greet")
    async def plain_greet(request: dict[str, Any]) -> dict[str, Any]:
        return {"greeting": "plain " + request["data"]["name"], "key": request["idempotency_key"]}

    agent_id = f"plain-{unique}"
    async with Worker(client, task_queue=agent_id, activities=[plain_greet]):
        result = await run_task(
            client,
            f"orch-{unique}",
            f"task-{unique}",
            AgentTaskInput(agent_id=agent_id, action="greet", data={"name": "Lin"}),
        )
    assert result.output == {"greeting": "plain Lin", "key": f"task-{unique}/greet"}


def test_declaring_an_agent_wrongly_fails_with_a_clear_error() -> None:
    agent = Agent(AgentDescriptor(agent_id="a", agent_type="T"))
    with pytest.raises(AgentError, match="async def"):

        @agent.action("sync")
        def sync(data: Any, ctx: ActionContext) -> None:  # type: ignore[type-var]
            return None

    @agent.action("once")
    async def once(data: Any, ctx: ActionContext) -> None:
        return None

    with pytest.raises(AgentError, match="declared twice"):

        @agent.action("once")
        async def again(data: Any, ctx: ActionContext) -> None:
            return None


async def test_an_agent_without_actions_cannot_make_a_worker(client: Client) -> None:
    with pytest.raises(AgentError, match="no actions"):
        Agent(AgentDescriptor(agent_id="empty", agent_type="T")).worker(client)
