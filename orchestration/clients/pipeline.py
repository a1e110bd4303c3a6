"""``Pipeline``: run a ``PipelineConfig`` as a durable ``PipelineWorkflow`` and follow it.

``execute(input)`` starts the workflow (id: the execution id) and returns the
:class:`~workflows.pipeline_models.PipelineExecution` once it ends, whatever its status:
``COMPLETED``, ``COMPLETED_WITH_ERRORS`` (CONTINUE recorded failed stages), ``FAILED``
(``failed_stage`` names the stage; runs started before repair existed) or ``TIMED_OUT``; or
as soon as it parks, ``NEEDS_INTERVENTION`` (a FAIL_FAST stage failed: ``failed_stage`` and
``incidents`` name it, and ``resolve(execution_id, stage, "retry" | "skip", ...)`` goes on).
``get_execution_status(id)`` answers for a running or finished execution.
"""

from __future__ import annotations

from typing import Any, cast

import pydantic
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.exceptions import ApplicationError

from orchestration.clients.schedules import Overlap, Schedules, ScheduleView
from orchestration.clients.ui_summaries import pipeline_summary
from orchestration.clients.workflow_client import AgentRef, WorkflowClient, ended_or_parked
from orchestration.core.exceptions import PipelineError
from orchestration.core.settings import Settings
from orchestration.core.validation import check_agent_queues, validation_error
from workflows.operations_models import InterventionRecord, Resolution, ResolveAction
from workflows.pipeline import PIPELINE_FAILED, PIPELINE_TIMED_OUT, PipelineWorkflow
from workflows.pipeline_models import PipelineConfig, PipelineExecution, PipelineInput

__all__ = ["Pipeline", "PipelineRuns"]


class PipelineRuns(WorkflowClient):
    """Pipeline executions by id, whatever their config: their status, and ``resolve``.

    Args:
        settings: defaults to ``get_settings()`` (Temporal address, task queue).
        client: an already connected Temporal client (pydantic data converter).
    """

    error = PipelineError
    noun = "pipeline execution"

    async def resolve(
        self,
        execution_id: str,
        stage: str,
        action: ResolveAction | str,
        *,
        by: str,
        reason: str,
        data: Any = None,
    ) -> InterventionRecord:
        """Continue a parked execution: ``retry`` its failed stage (the same idempotency
        keys; ``data`` as the stage's input when given) or ``skip`` it (``data`` as its
        output when given, else the next stage gets its input).

        Raises:
            ValidationError: an argument is malformed (an unknown action).
            RequestRefusedError: the stage is not parked, or the action does not fit.
            PipelineError: there is no execution with this id.
        """
        await self.initialize()
        try:
            resolution = Resolution(step=stage, action=action, by=by, reason=reason, data=data)
        except pydantic.ValidationError as exc:
            raise validation_error("resolution", exc, "request") from None
        record = await self._update(execution_id, PipelineWorkflow.resolve, resolution)
        return cast(InterventionRecord, record)

    async def get_execution_status(self, execution_id: str) -> PipelineExecution:
        """The execution so far (running) or its end (finished).

        Raises:
            PipelineError: no execution has that id, or it has not started running yet.
        """
        await self.initialize()
        handle = self.client.get_workflow_handle_for(PipelineWorkflow.run, execution_id)
        description = await self._describe(handle, f"no pipeline execution {execution_id!r}")
        if description.status == WorkflowExecutionStatus.RUNNING:
            status = await handle.query(PipelineWorkflow.status)
            if status is None:
                raise PipelineError(f"pipeline execution {execution_id!r} has not started yet")
            return status
        return await _outcome(handle)


class Pipeline(PipelineRuns):
    """The quick reference's pipeline: ``Pipeline(config).execute(input)``.

    Args:
        config: the stages; validated again here (models are mutable).
        settings: defaults to ``get_settings()`` (Temporal address, task queue).
        client: an already connected Temporal client (pydantic data converter).

    Raises:
        ValidationError: the config is invalid (naming the field); nothing was started.
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        settings: Settings | None = None,
        client: Client | None = None,
    ) -> None:
        try:
            self.config = PipelineConfig.model_validate(config.model_dump())
        except pydantic.ValidationError as exc:
            raise validation_error("pipeline", exc, "config") from None
        super().__init__(settings=settings, client=client)
        check_agent_queues(self._agents(), self._settings.task_queue)

    async def start(
        self, input: Any = None, *, execution_id: str | None = None
    ) -> WorkflowHandle[Any, PipelineExecution]:
        """Start an execution (or attach to the one with this id) without waiting."""
        try:
            pipeline = PipelineInput(
                config=self.config,
                input=input,
                routing=self._settings.route,
                **({"execution_id": execution_id} if execution_id else {}),
            )
        except pydantic.ValidationError as exc:
            raise validation_error("pipeline execution", exc, "input") from None
        await self.initialize()
        await self._warn_unpolled(f"pipeline {pipeline.execution_id}", self._agents())
        return await self._start_once(
            PipelineWorkflow.run, pipeline, pipeline.execution_id, pipeline_summary(pipeline.config)
        )

    async def schedule(
        self,
        input: Any = None,
        *,
        schedule_id: str,
        cron: str | None = None,
        interval_ms: int | None = None,
        overlap: Overlap = "skip",
    ) -> ScheduleView:
        """Run the pipeline on a schedule (see ``SagaOrchestrator.schedule``); each run's
        execution id is ``<schedule_id>-<scheduled time>``.

        Raises:
            ValidationError: the input, the spec or the overlap is invalid.
            ScheduleError: a schedule with this id exists.
        """
        try:
            pipeline = PipelineInput(
                config=self.config,
                input=input,
                execution_id=schedule_id,
                routing=self._settings.route,
            )
        except pydantic.ValidationError as exc:
            raise validation_error("pipeline schedule", exc, "input") from None
        await self.initialize()
        return await Schedules(settings=self._settings, client=self.client).create(
            schedule_id,
            PipelineWorkflow.run,
            pipeline,
            cron=cron,
            interval_ms=interval_ms,
            overlap=overlap,
            summary=f"pipeline {self.config.name} ({len(self.config.stages)} stages)",
        )

    def _agents(self) -> list[AgentRef]:
        return [
            (f"stages.{s}.agents.{a}.agent_id", ref.agent_id, ref.endpoint)
            for s, stage in enumerate(self.config.stages)
            for a, ref in enumerate(stage.agents)
            if ref.agent_id is not None  # routed by capability: no fixed queue
        ]

    async def execute(
        self, input: Any = None, *, execution_id: str | None = None
    ) -> PipelineExecution:
        """Run to the end, or until it parks, and return the execution (see the module
        docstring)."""
        handle = await self.start(input, execution_id=execution_id)
        try:
            _, execution = await ended_or_parked(handle, PipelineWorkflow.status)
        except WorkflowFailureError as exc:
            return _ended_badly(handle, exc)
        return cast(PipelineExecution, execution)


async def _outcome(handle: WorkflowHandle[Any, PipelineExecution]) -> PipelineExecution:
    try:
        return await handle.result()
    except WorkflowFailureError as exc:
        return _ended_badly(handle, exc)


def _ended_badly(
    handle: WorkflowHandle[Any, PipelineExecution], exc: WorkflowFailureError
) -> PipelineExecution:
    """The execution a failed or timed-out run carries, else a ``PipelineError``."""
    cause = exc.cause
    if (
        isinstance(cause, ApplicationError)
        and cause.type in (PIPELINE_FAILED, PIPELINE_TIMED_OUT)
        and cause.details
    ):
        return PipelineExecution.model_validate(cause.details[0])
    raise PipelineError(f"pipeline execution {handle.id} failed: {cause or exc}") from exc
