"""``SagaWorkflow``: a DAG of agent actions with compensation, as one Temporal workflow.

Execution: a step starts as soon as all its dependencies completed, so independent steps run
concurrently. Before the pivot step completed, a failed step stops new launches; steps
already running finish, then completed steps are compensated in the order the strategy
says. Once a pivot completed, failures are retried until they succeed (forward recovery).
Compensation, once begun, runs to its end even if the workflow is cancelled meanwhile.

When the saga is cancelled or times out while steps run, it asks their agents to stop and
waits until each call has settled: a step whose agent completed it anyway is compensated
with the others, so no effect is left behind (an agent that never heartbeats only settles
when it finishes or its attempt times out).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.metrics as metrics
    from orchestration.core.search_attributes import orchestration_attributes
    from workflows.dispatch import describe_failure, dispatch_action, failed_for_good
    from workflows.inputs import checked_input
    from workflows.metrics import count, observe
    from workflows.models import ActionRequest
    from workflows.saga_models import (
        CompensationStrategy,
        SagaExecution,
        SagaInput,
        SagaState,
        SagaStep,
        StepState,
    )
    from workflows.saga_plan import (
        cascade_ready,
        compensation_targets,
        ready_steps,
        step_request,
    )
    from workflows.saga_report import current_details, outcome_line

__all__ = ["FAILURE_TYPES", "SagaWorkflow"]

FAILURE_TYPES = {
    SagaState.COMPENSATED: "SagaCompensated",
    SagaState.FAILED: "SagaCompensationFailed",
}
"""ApplicationError type of the workflow failure, by terminal state."""
TIMED_OUT = "SagaTimedOut"
SETTLE_CANCELLED_STEPS = "saga-settle-cancelled-steps"
"""Patch id: steps cancelled mid-call are waited for, and compensated if they completed."""
STEP_START_TIMEOUT = "saga-step-start-timeout"
"""Patch id: a step nobody picks up within ``step_start_timeout_ms`` fails (the agent is gone)."""


class _SagaTimeout(Exception):
    """The saga's overall deadline passed before the pivot completed."""


@workflow.defn
class SagaWorkflow:
    """Run a ``SagaInput``. Query ``status`` for a ``SagaExecution``.

    Completes with the ``SagaExecution`` when every step completed. Fails with an
    ``ApplicationError`` of type ``SagaCompensated``, ``SagaCompensationFailed`` or
    ``SagaTimedOut`` (details: the ``SagaExecution``) otherwise; is cancelled (state ABORTED)
    after compensating when cancelled before the pivot. Whenever a compensation failed for
    good the failure is ``SagaCompensationFailed`` (state FAILED), even after a timeout or a
    cancellation: manual intervention matters more.
    """

    def __init__(self) -> None:
        self._exec: SagaExecution | None = None
        self._finished: list[str] = []
        self._failed_for_good: list[str] = []
        """Steps whose last failure was non-retryable: retrying them cannot help."""

    @workflow.query
    def status(self) -> SagaExecution | None:
        return self._exec

    @workflow.run
    async def run(self, raw_saga: Any) -> SagaExecution:
        saga = checked_input(SagaInput, raw_saga)
        self._saga = saga
        tx = saga.transaction
        self._exec = SagaExecution.pending(workflow.info().workflow_id, tx)
        self._exec.started_at = _iso(workflow.now())
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._set_state(SagaState.RUNNING)
        timeout_ms = tx.timeout_ms or saga.config.default_timeout_ms
        # One timer for the whole saga (not one per wait): fewer history events per saga.
        self._deadline_passed = False
        self._deadline_timer = asyncio.create_task(self._deadline(timeout_ms))
        try:
            failed = await self._run_steps()
        except asyncio.CancelledError:
            await self._stop_running_steps()
            await self._compensate(None, "saga cancelled")
            if self._all_undone():
                self._finish(SagaState.ABORTED)
                raise
            self._finish(SagaState.FAILED)
            raise self._failure(FAILURE_TYPES[SagaState.FAILED], outcome_line(self._exec)) from None
        except _SagaTimeout:
            await self._stop_running_steps()
            message = f"saga timed out after {timeout_ms} ms before its pivot completed"
            await self._compensate(None, message)
            state = self._compensation_outcome()
            self._finish(state)
            if state == SagaState.FAILED:  # manual intervention matters more than the timeout
                raise self._failure(
                    FAILURE_TYPES[state], f"{message}; {outcome_line(self._exec)}"
                ) from None
            raise self._failure(TIMED_OUT, message) from None
        if failed is None and self._exec.failed_step is None:
            self._finish(SagaState.COMPLETED)
            return self._exec
        if failed is not None:
            # Failed before any pivot completed: compensate.
            await self._compensate(failed, f"step {failed!r} failed")
            state = self._compensation_outcome()
            self._finish(state)
            raise self._failure(FAILURE_TYPES[state], outcome_line(self._exec))
        # A step failed for good after the pivot: nothing may be undone any more.
        self._finish(SagaState.FAILED)
        raise self._failure(FAILURE_TYPES[SagaState.FAILED], outcome_line(self._exec))

    # -- forward execution -------------------------------------------------------------

    async def _run_steps(self) -> str | None:
        """Run the DAG. Returns the failed step when compensation is needed, else None."""
        assert self._exec is not None
        tx = self._saga.transaction
        failed: list[str] = []
        cancel_requested = False
        while True:
            if not failed:
                started = [n for n, r in self._exec.steps.items() if r.state != StepState.PENDING]
                for name in ready_steps(tx, self._exec.completed_steps, started):
                    self._launch(tx.step(name))
            if not self._tasks:
                break
            self._update_details()
            try:
                await self._wait_for_a_step()
            except asyncio.CancelledError:
                if not self._past_pivot():
                    raise
                # Past the point of no return: finish forward instead of aborting.
                if not cancel_requested:
                    cancel_requested = True
                    self._exec.errors.append(
                        "cancellation requested after the pivot completed: finishing forward"
                    )
                continue
            for name in self._drain_finished():
                record = self._exec.steps[name]
                if record.state == StepState.COMPLETED:
                    if tx.step(name).is_pivot and not self._exec.pivot_completed:
                        self._exec.pivot_completed = True
                        # Steps that failed while the pivot was running are now retried.
                        for earlier in failed:
                            self._recover_forward(tx.step(earlier))
                        failed.clear()
                    continue
                step = tx.step(name)
                if self._exec.pivot_completed:
                    if name in self._failed_for_good:  # dispatching it again cannot help
                        self._exec.failed_step = self._exec.failed_step or name
                        continue
                    self._recover_forward(step)
                elif (
                    tx.compensation_strategy == CompensationStrategy.FORWARD
                    and not failed
                    and record.dispatches <= self._saga.config.forward_recovery_attempts
                ):
                    self._launch(step, again=True)
                else:
                    failed.append(name)
        for record in self._exec.steps.values():
            if record.state == StepState.PENDING:
                record.state = StepState.NOT_RUN
        if failed:
            self._exec.failed_step = failed[0]
            return failed[0]
        return None

    def _launch(self, step: SagaStep, *, again: bool = False, forever: bool = False) -> None:
        assert self._exec is not None
        record = self._exec.steps[step.name]
        record.state = StepState.RUNNING
        record.dispatches += 1
        if step.name in self._failed_for_good:
            self._failed_for_good.remove(step.name)
        if not again:
            record.started_at = _iso(workflow.now())
        self._tasks[step.name] = asyncio.create_task(self._run_step(step, forever=forever))

    def _recover_forward(self, step: SagaStep) -> None:
        assert self._exec is not None
        self._exec.forward_recovery = True
        self._exec.errors.append(
            f"step {step.name!r} failed after the pivot: retrying until it succeeds"
        )
        self._launch(step, again=True, forever=True)

    async def _run_step(self, step: SagaStep, *, forever: bool) -> None:
        assert self._exec is not None
        record = self._exec.steps[step.name]
        retry = step.retry_policy
        if forever:
            retry = retry.model_copy(update={"maximum_attempts": 0})
        try:
            output = await dispatch_action(
                agent_id=step.agent_id,
                action=step.action,
                endpoint=step.endpoint,
                request=self._request(step, compensating=False),
                timeout_ms=step.timeout_ms or self._saga.config.step_timeout_ms,
                retry=retry,
                summary=f"step {step.name}: {step.agent_id}.{step.action}",
                # A step cancelled mid-call (saga cancelled or timed out) may still complete
                # on its agent: wait for its outcome, so a completed one is compensated too.
                settle_on_cancel=workflow.patched(SETTLE_CANCELLED_STEPS),
                schedule_to_start_timeout_ms=(
                    self._saga.config.step_start_timeout_ms
                    if workflow.patched(STEP_START_TIMEOUT)
                    else None
                ),
            )
        except ActivityError as exc:
            record.state = StepState.FAILED
            record.error = describe_failure(exc, agent_id=step.agent_id, endpoint=step.endpoint)
            if failed_for_good(exc, retry):
                self._failed_for_good.append(step.name)
            self._exec.errors.append(f"step {step.name!r}: {record.error}")
            count(metrics.saga_steps_total.labels(step_name=step.name, status="failed"))
        else:
            now = workflow.now()
            record.state = StepState.COMPLETED
            record.completed_at = _iso(now)
            record.duration_ms = _ms_between(record.started_at, now)
            record.error = None
            self._exec.outputs[step.name] = output
            self._exec.completed_steps.append(step.name)
            count(metrics.saga_steps_total.labels(step_name=step.name, status="completed"))
        finally:
            self._finished.append(step.name)

    async def _deadline(self, timeout_ms: int) -> None:
        await workflow.sleep(timedelta(milliseconds=timeout_ms), summary="saga deadline")
        self._deadline_passed = True

    async def _wait_for_a_step(self) -> None:
        """Wait until a step finishes; raise ``_SagaTimeout`` if the deadline passes first."""
        await workflow.wait_condition(
            lambda: bool(self._finished) or (self._deadline_passed and not self._past_pivot())
        )
        if not self._finished and self._deadline_passed and not self._past_pivot():
            raise _SagaTimeout()

    def _past_pivot(self) -> bool:
        """True once a pivot completed, even before the loop handled its completion."""
        assert self._exec is not None
        tx = self._saga.transaction
        return any(tx.step(name).is_pivot for name in self._exec.completed_steps)

    def _drain_finished(self) -> list[str]:
        names, self._finished = self._finished, []
        for name in names:
            self._tasks.pop(name, None)
        return names

    async def _stop_running_steps(self) -> None:
        """Cancel running steps and wait until each settled (completed steps get undone)."""
        assert self._exec is not None
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drain_finished()
        for record in self._exec.steps.values():
            if record.state == StepState.RUNNING:
                record.state = StepState.FAILED
                record.error = "cancelled"
            elif record.state == StepState.PENDING:
                record.state = StepState.NOT_RUN

    # -- compensation ------------------------------------------------------------------

    async def _compensate(self, failed: str | None, reason: str) -> None:
        """Undo completed steps; runs to the end even if the workflow is cancelled meanwhile."""
        assert self._exec is not None
        # Its own task: cancelling the workflow cancels only the main task, which would
        # otherwise abandon the compensation activity it is waiting for.
        work = asyncio.create_task(self._undo(failed, reason))
        while not work.done():
            try:
                await workflow.wait([work])
            except asyncio.CancelledError:
                self._exec.errors.append(
                    "cancellation requested while compensating: compensation continues"
                )
        work.result()

    async def _undo(self, failed: str | None, reason: str) -> None:
        assert self._exec is not None
        tx = self._saga.transaction
        self._exec.errors.append(f"compensating: {reason}")
        completed = list(self._exec.completed_steps)
        strategy = tx.compensation_strategy
        targets = compensation_targets(tx, completed, failed)
        # Completed steps outside the scope, or without a compensation, stay committed.
        self._exec.committed_steps = [n for n in completed if n not in targets]
        if not targets:
            return
        self._set_state(SagaState.COMPENSATING)
        if strategy == CompensationStrategy.PARALLEL:
            await asyncio.gather(*(self._compensate_step(n) for n in targets))
        elif strategy == CompensationStrategy.CASCADE:
            await self._compensate_cascade(targets)
        else:  # BACKWARD, FORWARD (after recovery gave up), SELECTIVE: newest first
            for name in reversed(targets):
                if not await self._compensate_step(name):
                    break
        self._exec.uncompensated_steps = [
            n for n in targets if self._exec.steps[n].state != StepState.COMPENSATED
        ]

    async def _compensate_cascade(self, targets: list[str]) -> None:
        assert self._exec is not None
        tx = self._saga.transaction
        running: dict[str, asyncio.Task[bool]] = {}
        started: list[str] = []
        while True:
            compensated = [n for n in targets if self._exec.steps[n].state == StepState.COMPENSATED]
            for name in cascade_ready(tx, targets, compensated, started):
                started.append(name)
                running[name] = asyncio.create_task(self._compensate_step(name))
            if not running:
                return
            await workflow.wait(list(running.values()), return_when=asyncio.FIRST_COMPLETED)
            for name in [n for n, t in running.items() if t.done()]:
                running.pop(name)

    async def _compensate_step(self, name: str) -> bool:
        assert self._exec is not None
        step = self._saga.transaction.step(name)
        assert step.compensation is not None
        record = self._exec.steps[name]
        record.state = StepState.COMPENSATING
        record.compensation_started_at = _iso(workflow.now())
        self._update_details()
        try:
            await dispatch_action(
                agent_id=step.agent_id,
                action=step.compensation,
                endpoint=step.endpoint,
                request=self._request(step, compensating=True),
                timeout_ms=self._saga.config.compensation_timeout_ms,
                retry=self._saga.config.compensation_retry,
                summary=f"compensate {name}: {step.agent_id}.{step.compensation}",
                cancellable=False,
            )
        except ActivityError as exc:
            record.state = StepState.COMPENSATION_FAILED
            record.compensation_error = describe_failure(exc)
            self._exec.errors.append(f"compensation of {name!r}: {record.compensation_error}")
            self._exec.manual_intervention_required = True
            return False
        record.state = StepState.COMPENSATED
        record.compensation_completed_at = _iso(workflow.now())
        self._exec.compensated_steps.append(name)
        count(metrics.saga_compensations_total)
        return True

    # -- bookkeeping -------------------------------------------------------------------

    def _request(self, step: SagaStep, *, compensating: bool) -> ActionRequest:
        assert self._exec is not None
        return step_request(
            self._saga, self._exec, step, workflow.info().workflow_id, compensating=compensating
        )

    def _all_undone(self) -> bool:
        assert self._exec is not None
        return not self._exec.uncompensated_steps

    def _compensation_outcome(self) -> SagaState:
        return SagaState.COMPENSATED if self._all_undone() else SagaState.FAILED

    def _failure(self, error_type: str, message: str) -> ApplicationError:
        assert self._exec is not None
        return ApplicationError(
            message, self._exec.model_dump(mode="json"), type=error_type, non_retryable=True
        )

    def _finish(self, state: SagaState) -> None:
        assert self._exec is not None
        now = workflow.now()
        self._exec.completed_at = _iso(now)
        self._exec.duration_ms = _ms_between(self._exec.started_at, now)
        if state == SagaState.FAILED:
            self._exec.manual_intervention_required = True
        self._set_state(state)
        self._update_details()
        count(metrics.saga_executions_total.labels(status=state.value))
        observe(metrics.saga_duration_ms, self._exec.duration_ms or 0.0)

    def _set_state(self, state: SagaState) -> None:
        assert self._exec is not None
        self._exec.state = state
        workflow.upsert_search_attributes(
            orchestration_attributes("saga", self._exec.name, state.value)
        )

    def _update_details(self) -> None:
        assert self._exec is not None
        workflow.set_current_details(current_details(self._exec))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _ms_between(start_iso: str | None, end: datetime) -> float | None:
    if start_iso is None:
        return None
    return (end - datetime.fromisoformat(start_iso)).total_seconds() * 1000
