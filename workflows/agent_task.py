"""``AgentTaskWorkflow``: one action on one agent, durably (retries, timeouts, history)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from orchestration.core.search_attributes import orchestration_attributes
    from workflows.dispatch import dispatch_action
    from workflows.models import ActionRequest, AgentTaskInput, AgentTaskResult

__all__ = ["AgentTaskWorkflow"]


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
    async def run(self, task: AgentTaskInput) -> AgentTaskResult:
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
            )
        except ActivityError:
            self._set_state("FAILED")
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
