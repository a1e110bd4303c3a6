"""What the orchestrators share: settings, a lazily connected Temporal client, lookups,
operator updates, and following a run until it ends or parks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from orchestration.core.exceptions import OrchestrationError, RequestRefusedError
from orchestration.core.search_attributes import ORCHESTRATION_STATE
from orchestration.core.settings import Settings, get_settings
from orchestration.core.temporal_client import connect, unpolled_queues
from orchestration.core.validation import polls_task_queue, task_queue_for
from workflows.dispatch import cause_message

__all__ = ["AgentRef", "WorkflowClient", "ended_or_parked"]

log = logging.getLogger(__name__)

AgentRef = tuple[str, str, str | None]
"""``(field, agent_id, endpoint)``: an agent a definition calls, and where it names it."""

A = TypeVar("A")
R = TypeVar("R")

_QUERY_TIMEOUT = timedelta(seconds=10)
_UPDATE_TIMEOUT = timedelta(seconds=30)
_WATCH_FIRST_S = 0.2
_WATCH_MAX_S = 2.0
PARKED = "NEEDS_INTERVENTION"
POLLED_FRESH_S = 10.0
"""How long a queue seen polled is not asked about again. Temporal itself lists a worker as
a poller until minutes after its last poll, so this makes the answer no staler."""


class WorkflowClient:
    """Base of ``SagaOrchestrator``, ``SwarmOrchestrator`` and ``Pipeline``.

    Args:
        settings: defaults to ``get_settings()`` (Temporal address, task queue, sections).
        client: an already connected Temporal client (it must use the pydantic converter).
    """

    error: ClassVar[type[OrchestrationError]] = OrchestrationError
    """What this orchestrator raises for a missing workflow or a missing connection."""
    noun: ClassVar[str] = "workflow"
    """What its runs are called in messages (``saga``, ``pipeline execution``)."""

    def __init__(self, *, settings: Settings | None = None, client: Client | None = None) -> None:
        self._settings = settings or get_settings()
        self._client = client
        self._polled: dict[str, float] = {}
        """Task queue -> when (event loop time) Temporal last said a worker polls it."""

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
        A queue seen polled is not asked about again for ``POLLED_FRESH_S`` (one describe
        call per queue, not per saga, when a program starts many); one without a poller is
        asked every time.
        """
        named = [
            (field, agent, task_queue_for(agent, endpoint))
            for field, agent, endpoint in agents
            if polls_task_queue(endpoint)  # an agent on the bus polls no queue
        ]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        missing = await self._unpolled(queue for _, _, queue in named)
        while missing and loop.time() < deadline:
            await asyncio.sleep(0.1)
            missing = await self._unpolled(missing)
        return [(field, agent, queue) for field, agent, queue in named if queue in missing]

    async def _unpolled(self, queues: Iterable[str]) -> set[str]:
        """``unpolled_queues``, skipping the queues seen polled within ``POLLED_FRESH_S``."""
        now = asyncio.get_running_loop().time()
        asked = [
            queue
            for queue in dict.fromkeys(queues)
            if queue not in self._polled or now - self._polled[queue] >= POLLED_FRESH_S
        ]
        if not asked:
            return set()
        missing = set(await unpolled_queues(self.client, asked))
        answered = asyncio.get_running_loop().time()
        for queue in asked:
            if queue not in missing:
                self._polled[queue] = answered
        return missing

    async def _warn_unpolled(self, what: str, agents: Iterable[AgentRef]) -> None:
        """Log a warning for each agent nobody runs: its call would wait for its pick-up
        bound, then fail (the CLI refuses to start instead). The check is advice: a server
        that does not answer it (a cancelled RPC under load) does not stop the start."""
        try:
            missing = await self.unpolled_agents(agents)
        except RPCError as exc:
            log.warning("%s: could not check that its agents run (%s); starting it", what, exc)
            return
        for field, agent, queue in missing:
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

    async def _update(self, workflow_id: str, update: Any, argument: Any) -> Any:
        """Send an operator update (``argument`` carries this client's identity).

        Raises:
            RequestRefusedError: the workflow's validator refused it, or the run ended.
            self.error: there is no run with this id.
        """
        argument = argument.model_copy(update={"identity": self.client.identity})
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            return await handle.execute_update(update, argument, rpc_timeout=_UPDATE_TIMEOUT)
        except WorkflowUpdateFailedError as exc:
            raise RequestRefusedError(f"{update.__name__} refused: {cause_message(exc)}") from None
        except RPCError as exc:
            raise await self._not_open(workflow_id, exc) from None

    async def _not_open(self, workflow_id: str, error: RPCError) -> Exception:
        """What a request to a run that is missing or ended raises."""
        if error.status != RPCStatusCode.NOT_FOUND:
            return error
        handle = self.client.get_workflow_handle(workflow_id)
        description = await self._describe(handle, f"no {self.noun} {workflow_id!r}")
        state = description.typed_search_attributes.get(ORCHESTRATION_STATE)
        return RequestRefusedError(f"{self.noun} {workflow_id!r} already ended ({state})")


async def ended_or_parked(handle: WorkflowHandle[Any, R], status: Any) -> tuple[bool, Any]:
    """``(True, status)`` as soon as the run parks (NEEDS_INTERVENTION, with incidents);
    ``(False, result)`` once it ends (a failure is raised, as ``handle.result()`` does).

    Parking is watched with ``describe`` (the server's copy of the ``OrchestrationState``
    search attribute: no history event, no worker involved), every 0.2 s at first, then at
    most every 2 s; ``status`` is the query that reads the parked run.
    """
    result = asyncio.ensure_future(handle.result())
    watch = asyncio.ensure_future(_parked(handle, status))
    try:
        await asyncio.wait({result, watch}, return_when=asyncio.FIRST_COMPLETED)
        if watch.done() and (parked := watch.result()) is not None:
            return True, parked
        return False, await result
    finally:
        for future in (result, watch):
            future.cancel()


async def _parked(handle: WorkflowHandle[Any, Any], status: Any) -> Any:
    interval = _WATCH_FIRST_S
    while True:
        await asyncio.sleep(interval)
        interval = min(interval * 1.5, _WATCH_MAX_S)
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return None
        if description.typed_search_attributes.get(ORCHESTRATION_STATE) == PARKED:
            current = await handle.query(status, rpc_timeout=_QUERY_TIMEOUT)
            if current is not None and current.incidents:
                return current
