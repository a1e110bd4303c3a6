"""``SwarmOrchestrator``: deploy swarms (``SwarmWorkflow``) and follow them.

``deploy(task)`` checks the task, finds its agents (the ones it names, or the healthiest
registered agents with its capabilities), starts the workflow with the swarm id as workflow
id, and waits for the result dict (see ``workflows/swarm.py`` for every key). A swarm that
ends below its convergence threshold raises :class:`SwarmNotConvergedError` carrying the same
dict. ``start`` returns at once; ``progress`` reads a running swarm's progress query.
"""

from __future__ import annotations

import logging
from typing import Any

import pydantic
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from bus.publisher import Publisher
from orchestration.clients.ui_summaries import swarm_summary
from orchestration.clients.workflow_client import WorkflowClient
from orchestration.core.exceptions import SwarmError, SwarmNotConvergedError, ValidationError
from orchestration.core.settings import Settings, SwarmConfig
from orchestration.core.validation import check_agent_queues, validation_error
from registry.agent_registry import AgentRegistry
from registry.backend import RegistryBackend
from registry.discovery import DiscoveryQuery
from workflows.swarm import NOT_CONVERGED, SwarmWorkflow
from workflows.swarm_models import SwarmAgentInfo, SwarmInput, SwarmProgress, SwarmTask

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
        task = await self._prepared(_validated(task))
        agents = [(f"agents.{n}", agent_id, None) for n, agent_id in enumerate(task.agents)]
        if task.source is not None:
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
    reason = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
    return SwarmError(f"swarm {swarm_id} failed: {reason}")
