"""``AgentTaskWorkflow``: one action on one agent, durably (retries, timeouts, history)."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from orchestration.core.search_attributes import orchestration_attributes
    from workflows.dispatch import dispatch_action, unpolled, unpolled_message
    from workflows.inputs import checked_input
    from workflows.models import ActionRequest, AgentTaskInput, AgentTaskResult
    from workflows.routing import call_routed
    from workflows.routing_models import RouteChoice

__all__ = ["AGENT_UNAVAILABLE", "START_TIMEOUT", "AgentTaskWorkflow"]

AGENT_UNAVAILABLE = "AgentUnavailable"
"""Error type of a task no worker of its agent picked up within ``start_timeout_ms``."""
START_TIMEOUT = "agent-task-start-timeout"
"""Patch id: a task nobody picks up within ``start_timeout_ms`` fails (the agent is gone)."""


@workflow.defn
class AgentTaskWorkflow:
    """Run ``task.action`` on ``task.agent_id`` and return its output.

    Start it from the CLI::

        temporal workflow start --type AgentTaskWorkflow --task-queue orchestration \\
            --input '{"agent_id": "agent-hello", "action": "greet", "data": {"name": "Ada"}}'
    """

    def __init__(self) -> None:
        self._state = "PENDING"
        self._name = ""

    @workflow.run
    async def run(self, raw_task: Any) -> AgentTaskResult:
        task = checked_input(AgentTaskInput, raw_task)
        key = task.idempotency_key or f"{workflow.info().workflow_id}/{task.action}"
        target = task.agent_id or f"[{task.capability}]"
        self._name = f"{target}.{task.action}"
        self._set_state("RUNNING")
        workflow.set_current_details(f"running **{task.action}** on agent `{target}`")
        request = ActionRequest(
            data=task.data, idempotency_key=key, caller=workflow.info().workflow_id
        )
        try:
            agent_id, output = await self._call(task, request)
        except ActivityError as exc:
            self._set_state("FAILED")
            if task.agent_id is not None and unpolled(exc):
                message = unpolled_message(task.agent_id, task.endpoint)
                raise ApplicationError(message, type=AGENT_UNAVAILABLE, non_retryable=True) from exc
            raise
        self._set_state("COMPLETED")
        workflow.set_current_details(f"**{task.action}** on `{agent_id}` completed")
        return AgentTaskResult(
            agent_id=agent_id, action=task.action, output=output, idempotency_key=key
        )

    async def _call(self, task: AgentTaskInput, request: ActionRequest) -> tuple[str, Any]:
        """(the agent that ran it, the output): on ``task.agent_id``, or routed."""
        route = task.route
        if route is not None:

            def chosen(choice: RouteChoice) -> None:
                workflow.set_current_details(
                    f"running **{task.action}** on agent `{choice.agent_id}` "
                    f"(routed by capability {task.capability})"
                )

            choice, output = await call_routed(
                route,
                task.routing,
                action=task.action,
                request=request,
                timeout_ms=task.timeout_ms,
                retry=task.retry,
                purpose=f"agent task {workflow.info().workflow_id}",
                on_choice=chosen,
            )
            return choice.agent_id, output
        assert task.agent_id is not None
        output = await dispatch_action(
            agent_id=task.agent_id,
            action=task.action,
            endpoint=task.endpoint,
            request=request,
            timeout_ms=task.timeout_ms,
            retry=task.retry,
            schedule_to_start_timeout_ms=(
                task.start_timeout_ms if workflow.patched(START_TIMEOUT) else None
            ),
        )
        return task.agent_id, output

    @workflow.query
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str) -> None:
        self._state = state
        workflow.upsert_search_attributes(orchestration_attributes("agent_task", self._name, state))
