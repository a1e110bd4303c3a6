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
        self._name = f"{task.agent_id}.{task.action}"
        self._set_state("RUNNING")
        workflow.set_current_details(f"running **{task.action}** on agent `{task.agent_id}`")
        try:
            output = await dispatch_action(
                agent_id=task.agent_id,
                action=task.action,
                endpoint=task.endpoint,
                request=ActionRequest(
                    data=task.data, idempotency_key=key, caller=workflow.info().workflow_id
                ),
                timeout_ms=task.timeout_ms,
                retry=task.retry,
                schedule_to_start_timeout_ms=(
                    task.start_timeout_ms if workflow.patched(START_TIMEOUT) else None
                ),
            )
        except ActivityError as exc:
            self._set_state("FAILED")
            if unpolled(exc):
                message = unpolled_message(task.agent_id, task.endpoint)
                raise ApplicationError(message, type=AGENT_UNAVAILABLE, non_retryable=True) from exc
            raise
        self._set_state("COMPLETED")
        workflow.set_current_details(f"**{task.action}** on `{task.agent_id}` completed")
        return AgentTaskResult(
            agent_id=task.agent_id, action=task.action, output=output, idempotency_key=key
        )

    @workflow.query
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str) -> None:
        self._state = state
        workflow.upsert_search_attributes(orchestration_attributes("agent_task", self._name, state))
