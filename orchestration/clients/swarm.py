"""``SwarmOrchestrator``: deploy swarms (``SwarmWorkflow``) and follow them.

``deploy(task)`` checks the task, finds its agents (the ones it names, or the healthiest
registered agents with its capabilities), starts the workflow with the swarm id as workflow
id, and waits for the result dict (see ``workflows/swarm.py`` for every key). A swarm that
ends below its convergence threshold raises :class:`SwarmNotConvergedError` carrying the same
dict. ``start`` returns at once; ``progress`` reads a running swarm's progress query.

``redrive(swarm_id)`` finishes a swarm that ended with partitions not done (failed for
good, or never run when it gave up): it starts ``<swarm id>-redrive-<n>`` with the same task,
running only those partitions and reducing onto the earlier swarm's accumulator, so once
the agent is fixed its result is the whole job's. A dataset's local path is made absolute
here (the workers read it; they must see the same path).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pydantic
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.dataset_files import DatasetError
from activities.swarm_manifest import read_manifest
from bus.publisher import Publisher
from orchestration.clients.ui_summaries import swarm_summary
from orchestration.clients.workflow_client import WorkflowClient
from orchestration.core.exceptions import SwarmError, SwarmNotConvergedError, ValidationError
from orchestration.core.settings import Settings, SwarmConfig
from orchestration.core.validation import check_agent_queues, validation_error
from registry.agent_registry import AgentRegistry
from registry.backend import RegistryBackend
from registry.discovery import DiscoveryQuery
from workflows.dispatch import cause_message
from workflows.swarm import NOT_CONVERGED, SwarmWorkflow
from workflows.swarm_files import DatasetSource
from workflows.swarm_models import (
    Redrive,
    SourceRef,
    SwarmAgentInfo,
    SwarmInput,
    SwarmProgress,
    SwarmTask,
)

__all__ = ["SwarmOrchestrator", "swarm_error"]

log = logging.getLogger(__name__)


class SwarmOrchestrator(WorkflowClient):
    """The quick reference's ``SwarmOrchestrator(bus)``.

    Args:
        bus: a ``MessageBus`` (optional; not needed to run swarms).
        settings: defaults to ``get_settings()`` (Temporal, task queue, swarm config).
        client: an already connected Temporal client (pydantic data converter).
        config: pool bounds and behaviour tuning; defaults to ``settings.swarm``.
        registry: an ``AgentRegistry`` (or the registry backend it fronts) to discover agents
            by capability (tasks that name their agents do not need one).
    """

    error = SwarmError

    def __init__(
        self,
        bus: Publisher | None = None,
        *,
        settings: Settings | None = None,
        client: Client | None = None,
        config: SwarmConfig | None = None,
        registry: AgentRegistry | RegistryBackend | None = None,
    ) -> None:
        super().__init__(settings=settings, client=client)
        self.bus = bus
        self.config = config or self._settings.swarm
        self._registry = registry

    async def start(self, task: SwarmTask) -> WorkflowHandle[Any, dict[str, Any]]:
        """Check ``task``, find its agents and start the swarm (or attach to it).

        Raises:
            ValidationError: the task is invalid (naming the field); nothing was started.
            SwarmError: fewer agents than ``agents_required`` could be found.
        """
        task = _absolute_paths(await self._prepared(_validated(task)))
        agents = [(f"agents.{n}", agent_id, None) for n, agent_id in enumerate(task.agents)]
        if isinstance(task.source, SourceRef):
            agents.append(("source.agent_id", task.source.agent_id, None))
        check_agent_queues(agents, self._settings.task_queue)
        return await self._start_once(
            SwarmWorkflow.run,
            SwarmInput(task=task, tuning=self.config.policy_tuning()),
            task.swarm_id,
            swarm_summary(task),
        )

    async def deploy(self, task: SwarmTask) -> dict[str, Any]:
        """Run the swarm to its end and return its result dict.

        Raises:
            ValidationError: the task is invalid; nothing was started.
            SwarmNotConvergedError: it ended below its convergence threshold (``.result``).
            SwarmError: it could not run (no agents, an invalid source, cancelled...).
        """
        handle = await self.start(task)
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            raise swarm_error(task.swarm_id, exc) from exc

    async def progress(self, swarm_id: str) -> SwarmProgress | None:
        """The running (or finished) swarm's progress; None before it planned its partitions.

        Raises:
            SwarmError: no swarm has that id.
        """
        handle = self.client.get_workflow_handle_for(SwarmWorkflow.run, swarm_id)
        try:
            return await handle.query(SwarmWorkflow.progress)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise SwarmError(f"no swarm with id {swarm_id!r}") from None
            raise

    async def cancel(self, swarm_id: str) -> None:
        await self.client.get_workflow_handle(swarm_id).cancel()

    async def redrive(self, swarm_id: str, *, agents: list[str] | None = None) -> dict[str, Any]:
        """Run the partitions ``swarm_id`` did not finish, onto its accumulator; return the
        result of the whole job (see the module docstring).

        Args:
            agents: the pool of the redrive (default: the earlier swarm's agents).

        Raises:
            SwarmError: no such swarm, still running, no result to go on from (cancelled,
                terminated), or nothing left to redrive.
            SwarmNotConvergedError: the redrive ended below its threshold too.
        """
        handle = await self.start(await self.redrive_task(swarm_id, agents=agents))
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            raise swarm_error(handle.id, exc) from exc

    async def redrive_task(self, swarm_id: str, *, agents: list[str] | None = None) -> SwarmTask:
        """The task ``redrive`` starts (not started: ``start`` it to follow it yourself)."""
        status, result = await self._ended(swarm_id)
        if status == "RUNNING":
            raise SwarmError(f"swarm {swarm_id} is still running: redrive it once it has ended")
        if result is None:
            raise SwarmError(
                f"swarm {swarm_id} ended {status.lower()} without a result to go on from: "
                "deploy it again"
            )
        if "unfinished" not in result:
            raise SwarmError(f"swarm {swarm_id} ran before redrive existed: deploy it again")
        earlier = await self._task_of(swarm_id)
        unfinished = result["unfinished"]
        if not unfinished:
            raise SwarmError(f"swarm {swarm_id} finished every partition: nothing to redrive")
        of = earlier.redrive.of if earlier.redrive is not None else swarm_id
        last = swarm_id.rsplit("-redrive-", 1)[-1]
        number = int(last) + 1 if earlier.redrive is not None and last.isdigit() else 1
        update: dict[str, Any] = {
            "swarm_id": f"{of}-redrive-{number}",
            "redrive": Redrive(of=of, partitions=unfinished, accumulator=result["accumulator"]),
        }
        if agents is not None:
            update.update(agents=agents, agents_required=len(agents), agent_info={})
        return SwarmTask.model_validate({**earlier.model_dump(), **update})

    async def manifest(self, swarm_id: str) -> tuple[str, dict[str, Any]] | None:
        """``(uri, manifest)`` of a finished swarm that wrote one; None while it runs, when
        it ended without a result (cancelled, terminated), or had no ``result_writer``.

        Raises:
            SwarmError: no such swarm, or its manifest cannot be read.
        """
        _, result = await self._ended(swarm_id)
        uri = result.get("manifest_uri") if result is not None else None
        if not uri:
            return None
        task = await self._task_of(swarm_id)
        endpoint = task.result_writer.endpoint_url if task.result_writer else None
        try:
            return uri, read_manifest(uri, endpoint)
        except (DatasetError, ValueError) as exc:
            raise SwarmError(f"swarm {swarm_id}: cannot read its manifest: {exc}") from None

    async def _task_of(self, swarm_id: str) -> SwarmTask:
        return (await _first_input(self.client, self.client.get_workflow_handle(swarm_id))).task

    async def _ended(self, swarm_id: str) -> tuple[str, dict[str, Any] | None]:
        """How ``swarm_id`` stands (``RUNNING``, ``COMPLETED``, ``FAILED``...) and, once it
        ended with one, its result (also of one that did not converge).

        Raises:
            SwarmError: no swarm has that id.
        """
        handle = self.client.get_workflow_handle(swarm_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise SwarmError(f"no swarm with id {swarm_id!r}") from None
            raise
        status = description.status.name if description.status else "UNKNOWN"
        if status == "RUNNING":
            return status, None
        try:
            result: dict[str, Any] = await handle.result(follow_runs=True)
        except WorkflowFailureError as exc:
            cause = exc.cause
            if not (isinstance(cause, ApplicationError) and cause.type == NOT_CONVERGED
                    and cause.details):  # fmt: skip
                return status, None
            result = cause.details[0]
        return status, result

    async def _prepared(self, task: SwarmTask) -> SwarmTask:
        config = self.config
        if not config.min_agents <= task.agents_required <= config.max_agents:
            problem = (
                f"must be between min_agents={config.min_agents} and "
                f"max_agents={config.max_agents} (ORCH_SWARM_MIN_AGENTS/_MAX_AGENTS)"
            )
            raise ValidationError(
                f"agents_required={task.agents_required} {problem}",
                errors=[{"field": "agents_required", "problem": problem}],
            )
        if task.agents:
            return task.model_copy(update={"agents": task.agents[: task.agents_required]})
        if self._registry is None:
            raise SwarmError(
                "the task names no agents and the orchestrator has no registry to discover "
                f"agents with {', '.join(task.capabilities)}: pass agents or registry="
            )
        registry = self._registry
        backend = registry.backend if isinstance(registry, AgentRegistry) else registry
        found = await backend.discover(
            DiscoveryQuery.build(capabilities=task.capabilities, max_results=task.agents_required)
        )
        if len(found) < task.agents_required:
            raise SwarmError(
                f"the registry has {len(found)} healthy agent(s) with "
                f"{', '.join(task.capabilities)}; the swarm needs {task.agents_required}"
            )
        agents = [a.descriptor for a in found[: task.agents_required]]
        info = {
            d.agent_id: SwarmAgentInfo(
                location=_text(d.metadata.get("location")),
                upstream=_text(d.metadata.get("upstream")),
            )
            for d in agents
        }
        log.info("swarm %s: %d agents discovered", task.swarm_id, len(agents))
        return task.model_copy(update={"agents": [d.agent_id for d in agents], "agent_info": info})


async def _first_input(client: Client, handle: WorkflowHandle[Any, Any]) -> SwarmInput:
    """The input the swarm's latest run started with (its task, as every run has it)."""
    async for event in handle.fetch_history_events():
        attributes = event.workflow_execution_started_event_attributes
        decoded = await client.data_converter.decode(attributes.input.payloads, [SwarmInput])
        return SwarmInput.model_validate(decoded[0])
    raise SwarmError(f"swarm {handle.id} has no history")  # pragma: no cover


def _absolute_paths(task: SwarmTask) -> SwarmTask:
    """Local dataset and manifest paths made absolute (relative to this process)."""
    update: dict[str, Any] = {}
    if isinstance(task.source, DatasetSource) and "://" not in task.source.uri:
        source = task.source.model_copy(update={"uri": os.path.abspath(task.source.uri)})
        update["source"] = source
    writer = task.result_writer
    if writer is not None and "://" not in writer.uri:
        update["result_writer"] = writer.model_copy(update={"uri": os.path.abspath(writer.uri)})
    return task.model_copy(update=update) if update else task


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _validated(task: SwarmTask) -> SwarmTask:
    """Re-validate (models are mutable) and turn problems into one ``ValidationError``."""
    try:
        return SwarmTask.model_validate(task.model_dump())
    except pydantic.ValidationError as exc:
        raise validation_error("swarm task", exc, "task") from None


def swarm_error(swarm_id: str, exc: WorkflowFailureError) -> SwarmError:
    """The error ``deploy`` raises for a swarm workflow's failure."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == NOT_CONVERGED and cause.details:
        return SwarmNotConvergedError(cause.message, cause.details[0])
    return SwarmError(f"swarm {swarm_id} failed: {cause_message(exc)}")
