"""What the orchestrators share: settings, a lazily connected Temporal client, and lookups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar, TypeVar

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from orchestration.core.exceptions import OrchestrationError
from orchestration.core.settings import Settings, get_settings
from orchestration.core.temporal_client import connect, unpolled_queues
from orchestration.core.validation import task_queue_for

__all__ = ["AgentRef", "WorkflowClient"]

log = logging.getLogger(__name__)

AgentRef = tuple[str, str, str | None]
"""``(field, agent_id, endpoint)``: an agent a definition calls, and where it names it."""

A = TypeVar("A")
R = TypeVar("R")


class WorkflowClient:
    """Base of ``SagaOrchestrator``, ``SwarmOrchestrator`` and ``Pipeline``.

    Args:
        settings: defaults to ``get_settings()`` (Temporal address, task queue, sections).
        client: an already connected Temporal client (it must use the pydantic converter).
    """

    error: ClassVar[type[OrchestrationError]] = OrchestrationError
    """What this orchestrator raises for a missing workflow or a missing connection."""

    def __init__(self, *, settings: Settings | None = None, client: Client | None = None) -> None:
        self._settings = settings or get_settings()
        self._client = client

    async def initialize(self) -> None:
        """Connect to Temporal (idempotent)."""
        if self._client is None:
            self._client = await connect(self._settings)

    @property
    def client(self) -> Client:
        if self._client is None:
            raise self.error(f"{type(self).__name__} is not initialized: await initialize() first")
        return self._client

    async def unpolled_agents(
        self, agents: Iterable[AgentRef], *, grace_s: float = 2.0
    ) -> list[tuple[str, str, str]]:
        """``(field, agent_id, task queue)`` of each agent whose task queue no worker polls
        (empty when the server cannot tell, as the time-skipping test server).

        A worker shows as a poller once its first poll reached Temporal: queues without one
        are asked again for up to ``grace_s`` seconds, so agents started a moment ago count.
        """
        named = [
            (field, agent, task_queue_for(agent, endpoint)) for field, agent, endpoint in agents
        ]
        deadline = asyncio.get_running_loop().time() + grace_s
        missing = set(await unpolled_queues(self.client, [queue for _, _, queue in named]))
        while missing and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            missing = set(await unpolled_queues(self.client, missing))
        return [(field, agent, queue) for field, agent, queue in named if queue in missing]

    async def _warn_unpolled(self, what: str, agents: Iterable[AgentRef]) -> None:
        """Log a warning for each agent nobody runs: its call would wait for its pick-up
        bound, then fail (the CLI refuses to start instead)."""
        for field, agent, queue in await self.unpolled_agents(agents):
            log.warning(
                "%s: no worker polls task queue %s (agent %s, %s); its call waits for one, "
                "then fails",
                what,
                queue,
                agent,
                field,
            )

    async def exists(self, workflow_id: str) -> bool:
        """True when a run with this id exists (running or ended): starting it again
        attaches to that run."""
        try:
            await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def _describe(
        self, handle: WorkflowHandle[Any, Any], missing: str
    ) -> WorkflowExecutionDescription:
        """``handle.describe()``, or ``self.error(missing)`` when there is no such workflow."""
        try:
            return await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise self.error(missing) from None
            raise

    async def _start_once(
        self,
        run: Callable[[Any, A], Awaitable[R]],
        argument: A,
        workflow_id: str,
        ui: tuple[str, str],
    ) -> WorkflowHandle[Any, R]:
        """Start ``run`` under ``workflow_id`` on ``ORCH_TASK_QUEUE``, exactly once: while it
        runs, starting it again attaches to it; once it ended, the id is never reused and the
        ended run is returned. ``ui`` is the Web UI's (summary, details)."""
        summary, details = ui
        try:
            return await self.client.start_workflow(
                run,
                argument,
                id=workflow_id,
                task_queue=self._settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=summary,
                static_details=details,
            )
        except WorkflowAlreadyStartedError:
            log.info("%s already ran: attaching to it", workflow_id)
            return self.client.get_workflow_handle_for(run, workflow_id)
