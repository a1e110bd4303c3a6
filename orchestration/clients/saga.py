"""``SagaOrchestrator``: start sagas as ``SagaWorkflow`` runs and read their status.

Each saga is one Temporal workflow whose id is the transaction id, so ``execute`` is
idempotent: executing the same transaction again attaches to the run that already exists
(running or finished) instead of starting a second one.

People act on running sagas through the workflow's Updates: ``approve`` / ``reject`` an
approval step, ``resolve`` a parked saga, and ``cancel``. Each request names who decides
(asserted by the caller) and carries this client's Temporal identity; the workflow's
validator refuses a request that does not fit (``RequestRefusedError``) before anything is
recorded.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

import pydantic
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError

from bus.message import Message, MessageType
from bus.publisher import Publisher
from orchestration.clients.schedules import Overlap, Schedules, ScheduleView
from orchestration.clients.ui_summaries import saga_summary
from orchestration.clients.workflow_client import AgentRef, WorkflowClient, ended_or_parked
from orchestration.core.exceptions import (
    SagaCompensationError,
    SagaError,
    SagaTimeoutError,
)
from orchestration.core.search_attributes import ORCHESTRATION_STATE
from orchestration.core.settings import SagaConfig, Settings
from orchestration.core.validation import check_agent_queues, validation_error
from workflows.operations_models import (
    Incident,
    IncidentKind,
    InterventionRecord,
    Resolution,
    ResolveAction,
)
from workflows.saga import FAILURE_TYPES, TIMED_OUT, SagaWorkflow
from workflows.saga_models import (
    SAGA_EVENTS_TOPIC,
    ApprovalDecision,
    ApprovalRecord,
    SagaExecution,
    SagaInput,
    SagaState,
    SagaTransaction,
)

__all__ = [
    "SAGA_EVENTS_TOPIC",
    "SagaOrchestrator",
    "other_actions",
    "parked_error",
    "resolve_command",
    "step_agents",
    "what_parked",
]

log = logging.getLogger(__name__)

_QUERY_TIMEOUT = timedelta(seconds=10)


class SagaOrchestrator(WorkflowClient):
    """Run sagas durably on Temporal.

    Args:
        bus: a ``MessageBus``: ``execute`` then publishes EVENT messages to ``saga.events``
            (``payload.event`` ``saga.started``, then ``saga.completed``, ``saga.compensated``,
            ``saga.aborted``, ``saga.failed`` or ``saga.timed_out``; with the transaction id,
            name and, at the end, the state and the steps' states). The sagas it starts
            also tell people, through the orchestration worker's bus, when they need them:
            ``saga.approval_requested`` and ``saga.intervention_needed`` (with the step, the
            reason and the Web UI link). Best effort: a bus failure is logged (or noted in
            the saga's errors) and never fails the saga, whose record is Temporal's history.
        settings: defaults to ``get_settings()`` (Temporal address, task queue, saga config).
        client: an already connected Temporal client (it must use the pydantic converter).
    """

    error = SagaError
    noun = "saga"

    def __init__(
        self,
        bus: Publisher | None = None,
        *,
        settings: Settings | None = None,
        client: Client | None = None,
        config: SagaConfig | None = None,
    ) -> None:
        super().__init__(settings=settings, client=client)
        self.bus = bus
        self.config = config or self._settings.saga

    async def start(
        self,
        transaction: SagaTransaction,
        initial_data: Any = None,
        *,
        check_agents: bool = True,
    ) -> WorkflowHandle[Any, SagaExecution]:
        """Start the saga (or attach to its existing run) without waiting for it.

        With ``check_agents``, a step's agent whose task queue no worker polls is logged as a
        warning: its step would wait ``step_start_timeout_ms`` for one, then fail. (Programs
        may start a saga before its agents; ``orchestration saga start`` refuses instead.)
        """
        saga = self._saga_input(transaction, initial_data)
        if check_agents:
            await self._warn_unpolled(
                f"saga {transaction.transaction_id}", step_agents(saga.transaction)
            )
        return await self._start_once(
            SagaWorkflow.run, saga, transaction.transaction_id, saga_summary(saga.transaction)
        )

    def _saga_input(self, transaction: SagaTransaction, initial_data: Any) -> SagaInput:
        """The workflow's input, checked (the definition; no agent on the worker's own
        queue), with this orchestrator's saga and routing settings."""
        saga = SagaInput(
            transaction=_validated(transaction),
            initial_data=initial_data,
            config=self.config,
            routing=self._settings.route,
            events=self.bus is not None,
        )
        check_agent_queues(step_agents(saga.transaction), self._settings.task_queue)
        return saga

    async def execute(
        self, transaction: SagaTransaction, initial_data: Any = None
    ) -> dict[str, Any]:
        """Run the saga to the end and return each step's output by step name.

        Approval steps are waited for: ``execute`` returns once they are decided and the
        saga ended.

        Raises:
            ValidationError: the definition is invalid; nothing was started.
            SagaError: a step failed and the completed steps were compensated, or the saga
                was cancelled (state ABORTED); ``error.execution`` says what happened.
            SagaCompensationError: manual intervention is needed: a compensation failed for
                good, or a step after the pivot can never succeed. Raised as soon as the
                saga parks (NEEDS_INTERVENTION); it stays open, and ``resolve`` (the
                error's ``resolve_command``) continues it.
            SagaTimeoutError: the overall timeout passed (also an ``asyncio.TimeoutError``).
        """
        handle = await self.start(transaction, initial_data)
        await self._emit("saga.started", transaction)
        try:
            parked, execution = await ended_or_parked(handle, SagaWorkflow.status)
        except WorkflowFailureError as exc:
            error = await _saga_error(handle, exc)
            ended = error.execution if isinstance(error.execution, SagaExecution) else None
            state = ended.state.value if ended is not None else "FAILED"
            if isinstance(error, SagaTimeoutError):
                state = "TIMED_OUT"
            await self._emit(f"saga.{state.lower()}", transaction, ended, error=str(error))
            raise error from exc
        if parked:
            raise parked_error(transaction.transaction_id, execution)
        await self._emit("saga.completed", transaction, execution)
        return dict(execution.outputs)

    async def _emit(
        self,
        event: str,
        transaction: SagaTransaction,
        execution: SagaExecution | None = None,
        *,
        error: str | None = None,
    ) -> None:
        if self.bus is None:
            return
        payload: dict[str, Any] = {
            "event": event,
            "transaction_id": transaction.transaction_id,
            "name": transaction.name,
        }
        if execution is not None:
            payload["state"] = execution.state.value
            payload["steps"] = {name: step.state.value for name, step in execution.steps.items()}
        if error is not None:
            payload["error"] = error
        message = Message(
            sender_id="saga-orchestrator",
            message_type=MessageType.EVENT,
            payload=payload,
            correlation_id=transaction.transaction_id,
        )
        try:
            await self.bus.publish(message, SAGA_EVENTS_TOPIC)
        except Exception as exc:  # events are best effort; the saga's record is its history
            log.warning("could not publish %s for %s: %s", event, transaction.transaction_id, exc)

    async def get_execution_status(self, transaction_id: str) -> SagaExecution:
        """The saga's execution: live while it runs, from its history once it finished."""
        handle = self.client.get_workflow_handle_for(SagaWorkflow.run, transaction_id)
        description = await self._describe(
            handle, f"no saga with transaction id {transaction_id!r}"
        )
        if description.status == WorkflowExecutionStatus.RUNNING:
            status = None
            if description.typed_search_attributes.get(ORCHESTRATION_STATE) is not None:
                status = await handle.query(SagaWorkflow.status, rpc_timeout=_QUERY_TIMEOUT)
            # Before its first workflow task ran (perhaps no worker is polling) it is PENDING.
            return status or SagaExecution.pending(transaction_id, await self._input(handle))
        try:
            return await handle.result()
        except WorkflowFailureError as exc:
            error = await _saga_error(handle, exc)
        if isinstance(error.execution, SagaExecution):
            return error.execution
        # Ended from outside (terminated, timed out): its state when it stopped.
        status = await handle.query(SagaWorkflow.status, rpc_timeout=_QUERY_TIMEOUT)
        if status is None:
            raise error
        return status

    async def _input(self, handle: WorkflowHandle[Any, SagaExecution]) -> SagaTransaction:
        async for event in handle.fetch_history_events():
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [saga] = await self.client.data_converter.decode(payloads, [SagaInput])
            return cast(SagaInput, saga).transaction
        raise SagaError(f"saga {handle.id!r} has no history")

    async def cancel(self, transaction_id: str) -> None:
        """Ask the saga to stop; before its pivot it compensates and ends ABORTED (after
        it, it finishes forward).

        Raises:
            SagaError: there is no saga with this id.
            RequestRefusedError: it already ended.
        """
        try:
            await self.client.get_workflow_handle(transaction_id).cancel()
        except RPCError as exc:
            raise await self._not_open(transaction_id, exc) from None

    async def schedule(
        self,
        transaction: SagaTransaction,
        initial_data: Any = None,
        *,
        schedule_id: str,
        cron: str | None = None,
        interval_ms: int | None = None,
        overlap: Overlap = "skip",
    ) -> ScheduleView:
        """Run the saga on a schedule (Temporal Schedules): on ``cron`` (e.g. ``0 6 1 * *``,
        06:00 UTC on the 1st of each month) or every ``interval_ms``.

        Each run's transaction id is ``<schedule_id>-<scheduled time>``; ``overlap`` says
        what happens when a run is due while the last one still runs (``skip``,
        ``buffer_one`` or ``allow_all``). See ``orchestration schedule`` to operate it.

        Raises:
            ValidationError: the definition, the spec or the overlap is invalid.
            ScheduleError: a schedule with this id exists.
        """
        saga = self._saga_input(transaction, initial_data)
        await self.initialize()
        schedules = Schedules(settings=self._settings, client=self.client)
        return await schedules.create(
            schedule_id,
            SagaWorkflow.run,
            saga,
            cron=cron,
            interval_ms=interval_ms,
            overlap=overlap,
            summary=f"saga {saga.transaction.name} ({len(saga.transaction.steps)} steps)",
        )

    async def approve(
        self, transaction_id: str, step: str, *, approver: str, comment: str | None = None
    ) -> ApprovalRecord:
        """Approve an approval step: it completes (its output: who, when, the comment).

        Raises:
            ValidationError: an argument is malformed.
            RequestRefusedError: the step is not awaiting approval, or ``approver`` is not
                one of its approvers (nothing was recorded).
            SagaError: there is no saga with this id.
        """
        decision = _request(ApprovalDecision, step=step, approver=approver, note=comment)
        return cast(
            ApprovalRecord, await self._update(transaction_id, SagaWorkflow.approve, decision)
        )

    async def reject(
        self, transaction_id: str, step: str, *, approver: str, reason: str
    ) -> ApprovalRecord:
        """Reject an approval step: it fails, and the saga compensates as its strategy says
        (after the pivot it parks for an operator instead).

        Raises:
            ValidationError, RequestRefusedError, SagaError: as :meth:`approve`.
        """
        decision = _request(ApprovalDecision, step=step, approver=approver, note=reason)
        return cast(
            ApprovalRecord, await self._update(transaction_id, SagaWorkflow.reject, decision)
        )

    async def resolve(
        self,
        transaction_id: str,
        step: str,
        action: ResolveAction | str,
        *,
        by: str,
        reason: str,
        data: Any = None,
    ) -> InterventionRecord:
        """Continue a parked saga: ``retry`` the failed call (with ``data`` as its input when
        given; same idempotency key), ``skip`` a failed step after the pivot (``data``
        stands in for its output), or ``mark_compensated`` a failed compensation.

        Raises:
            ValidationError: an argument is malformed (an unknown action).
            RequestRefusedError: the step is not parked, or the action does not fit it.
            SagaError: there is no saga with this id.
        """
        resolution = _request(Resolution, step=step, action=action, by=by, reason=reason, data=data)
        record = await self._update(transaction_id, SagaWorkflow.resolve, resolution)
        return cast(InterventionRecord, record)


def _request(model: Any, **fields: Any) -> Any:
    """An update's argument, or a ``ValidationError`` naming the field."""
    try:
        return model(**fields)
    except pydantic.ValidationError as exc:
        raise validation_error(model.__name__, exc, "request") from None


def resolve_command(transaction_id: str, incident: Incident) -> str:
    """The CLI command that resolves ``incident`` with its first action (``retry``); the
    others are in :func:`other_actions`."""
    return (
        f"orchestration saga resolve {transaction_id} {incident.step} "
        f"{_flag(incident.actions[0])} --by NAME --reason TEXT"
    )


def other_actions(incident: Incident) -> str:
    """``or --skip`` (the flags that also resolve ``incident``)."""
    return "or " + " or ".join(_flag(action) for action in incident.actions[1:])


def _flag(action: ResolveAction) -> str:
    return f"--{action.value.replace('_', '-')}"


_WHAT_PARKED = {
    IncidentKind.STEP: "step {step!r} failed after the pivot",
    IncidentKind.COMPENSATION: "the compensation of {step!r} failed",
    IncidentKind.APPROVAL: "approval step {step!r} was not decided in time",
}


def what_parked(incident: Incident) -> str:
    """``the compensation of 'a' failed`` and the like: why the saga waits."""
    return _WHAT_PARKED[incident.kind].format(step=incident.step)


def parked_error(transaction_id: str, execution: SagaExecution) -> SagaCompensationError:
    """The error ``execute`` raises for a parked saga (its first incident named)."""
    first = execution.incidents[0]
    command = resolve_command(transaction_id, first)
    what = what_parked(first)
    return SagaCompensationError(
        f"saga {transaction_id!r} needs manual intervention (manual intervention required): "
        f"{what}: {first.error}; it waits, parked, for: {command} ({other_actions(first)})",
        compensated_steps=execution.compensated_steps,
        uncompensated_steps=[
            i.step for i in execution.incidents if i.kind == IncidentKind.COMPENSATION
        ],
        execution=execution,
        details=execution.model_dump(mode="json"),
        resolve_command=command,
    )


def _validated(transaction: SagaTransaction) -> SagaTransaction:
    """Re-validate (models are mutable) and turn problems into one ``ValidationError``."""
    try:
        return SagaTransaction.model_validate(transaction.model_dump())
    except pydantic.ValidationError as exc:
        raise validation_error("saga definition", exc, "transaction") from None


async def _saga_error(
    handle: WorkflowHandle[Any, SagaExecution], exc: WorkflowFailureError
) -> SagaError:
    """The library error for a failed or cancelled saga run, with its execution attached."""
    cause = exc.cause
    if isinstance(cause, CancelledError):
        # A cancelled workflow carries no details: its final status is in its state.
        execution = await handle.query(SagaWorkflow.status, rpc_timeout=_QUERY_TIMEOUT)
        undone = ", ".join(execution.compensated_steps) if execution else ""
        return SagaError(
            f"saga was cancelled; compensated: {undone or 'nothing'}",
            execution=execution,
            details=execution.model_dump(mode="json") if execution else None,
        )
    if not isinstance(cause, ApplicationError):
        return SagaError(f"saga failed: {cause or exc}")
    details = cause.details[0] if cause.details else None
    execution = SagaExecution.model_validate(details) if isinstance(details, dict) else None
    data = details if isinstance(details, dict) else {}
    if cause.type == TIMED_OUT:
        return SagaTimeoutError(cause.message, execution=execution, details=data)
    if cause.type == FAILURE_TYPES[SagaState.FAILED]:
        return SagaCompensationError(
            cause.message,
            compensated_steps=execution.compensated_steps if execution else (),
            uncompensated_steps=execution.uncompensated_steps if execution else (),
            execution=execution,
            details=data,
        )
    return SagaError(cause.message, execution=execution, details=data)


def step_agents(transaction: SagaTransaction) -> list[AgentRef]:
    """``(field, agent_id, endpoint)`` of every step's agent (approval steps have none)."""
    return [
        (f"steps.{n}.agent_id", step.agent_id, step.endpoint)
        for n, step in enumerate(transaction.steps)
        if step.agent_id is not None
    ]
