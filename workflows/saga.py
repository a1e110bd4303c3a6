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

People take part through Temporal Updates (validated before anything is recorded):
``approve`` / ``reject`` decide an approval step (state AWAITING_APPROVAL while one waits;
the saga's deadline does not run meanwhile), and ``resolve`` continues a saga parked in
NEEDS_INTERVENTION: a compensation that failed after its retries, or a step that failed for
good after the pivot, waits for an operator instead of ending the saga (see
``workflows/operations_models.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.metrics as metrics
    from orchestration.core.retry import RetrySpec
    from orchestration.core.search_attributes import orchestration_attributes
    from workflows.deadlines import sparing, wait_for_operator
    from workflows.dispatch import (
        call_priority,
        describe_failure,
        dispatch_action,
        failed_for_good,
    )
    from workflows.inputs import checked_input
    from workflows.metrics import count, observe
    from workflows.models import ActionRequest
    from workflows.operations_models import (
        Incident,
        IncidentKind,
        InterventionRecord,
        Resolution,
        ResolveAction,
    )
    from workflows.routing import call_routed
    from workflows.routing_models import RouteChoice
    from workflows.saga_models import (
        SAGA_NOTICE_ACTIVITY,
        ApprovalDecision,
        ApprovalRecord,
        ApprovalTimeout,
        CompensationStrategy,
        PendingApproval,
        SagaExecution,
        SagaInput,
        SagaNotice,
        SagaState,
        SagaStep,
        StepState,
    )
    from workflows.saga_operations import (
        ENDED,
        approval_refusal,
        human_ms,
        resolution_refusal,
        state_now,
    )
    from workflows.saga_plan import (
        cascade_ready,
        compensation_targets,
        ready_steps,
        step_request,
    )
    from workflows.saga_report import current_details, outcome_line
    from workflows.updates import REFUSED, argument, refuse

__all__ = ["FAILURE_TYPES", "REFUSED", "SagaWorkflow"]

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
REPAIR = "saga-repair"
"""Patch id: a compensation that failed after its retries, or a step that failed for good
after the pivot, parks the saga (NEEDS_INTERVENTION) for ``resolve`` instead of ending it
FAILED."""
_NOTICE_TIMEOUT = timedelta(seconds=10)


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
        self._saga: SagaInput | None = None
        self._finished: list[str] = []
        self._failed_for_good: list[str] = []
        """Steps whose last failure was non-retryable: retrying them cannot help."""
        self._decisions: dict[str, ApprovalRecord] = {}
        """Approval step → the decision an update made, until its step acts on it."""
        self._resolutions: dict[str, Resolution] = {}
        """Parked step → the operator's resolution, until its step acts on it."""
        self._inputs: dict[str, Any] = {}
        """Step → the data an operator's ``retry`` gave it instead of the initial data."""
        self._phase = SagaState.RUNNING
        self._notices: list[asyncio.Task[None]] = []
        self._routes: dict[str, RouteChoice] = {}
        """Step routed by capability → the agent its call went to last (the one that
        completed it, once it completed: its compensation runs there too)."""

    @workflow.query
    def status(self) -> SagaExecution | None:
        return self._exec

    # -- people: approvals, resolutions, the outcome -------------------------------------

    @workflow.update
    def approve(self, raw: Any) -> ApprovalRecord:
        """Approve an approval step (``ApprovalDecision``; ``note`` is a comment)."""
        return self._decide(argument(ApprovalDecision, raw, "approve"), "approved")

    @approve.validator
    def _approvable(self, raw: Any) -> None:
        decision = argument(ApprovalDecision, raw, "approve")
        refuse(
            approval_refusal(
                self._saga, self._exec, decision, rejecting=False, decided=self._decisions
            )
        )

    @workflow.update
    def reject(self, raw: Any) -> ApprovalRecord:
        """Reject an approval step (``ApprovalDecision``; ``note`` is the reason): it fails."""
        return self._decide(argument(ApprovalDecision, raw, "reject"), "rejected")

    @reject.validator
    def _rejectable(self, raw: Any) -> None:
        decision = argument(ApprovalDecision, raw, "reject")
        refuse(
            approval_refusal(
                self._saga, self._exec, decision, rejecting=True, decided=self._decisions
            )
        )

    @workflow.update
    def resolve(self, raw: Any) -> InterventionRecord:
        """Resolve a parked step (``Resolution``): retry it, skip it, or mark it compensated."""
        assert self._exec is not None
        resolution = argument(Resolution, raw, "resolve")
        incident = next(i for i in self._exec.incidents if i.step == resolution.step)
        record = InterventionRecord.of(incident, resolution, _iso(workflow.now()))
        self._exec.interventions.append(record)
        self._resolutions[resolution.step] = resolution
        return record

    @resolve.validator
    def _resolvable(self, raw: Any) -> None:
        resolution = argument(Resolution, raw, "resolve")
        refuse(resolution_refusal(self._saga, self._exec, resolution, resolved=self._resolutions))

    @property
    def _input(self) -> SagaInput:
        assert self._saga is not None
        return self._saga

    def _decide(self, decision: ApprovalDecision, verdict: str) -> ApprovalRecord:
        assert self._exec is not None
        record = ApprovalRecord(
            step=decision.step,
            decision=verdict,
            approver=decision.approver,
            note=decision.note,
            identity=decision.identity,
            at=_iso(workflow.now()),
        )
        self._exec.approvals.append(record)
        self._decisions[decision.step] = record
        return record

    # -- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, raw_saga: Any) -> SagaExecution:
        return await self._run(checked_input(SagaInput, raw_saga))

    async def _run(self, saga: SagaInput) -> SagaExecution:
        self._saga = saga
        tx = saga.transaction
        self._exec = SagaExecution.pending(workflow.info().workflow_id, tx)
        self._exec.started_at = _iso(workflow.now())
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._set_state(SagaState.RUNNING)
        timeout_ms = tx.timeout_ms or saga.config.default_timeout_ms
        # One timer for the whole saga (not one per wait): fewer history events per saga.
        self._deadline_passed = False
        self._deadline_timer = asyncio.create_task(
            self._deadline_sparing_people(timeout_ms)
            if any(step.approval is not None for step in tx.steps)
            else self._deadline(timeout_ms)
        )
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
        tx = self._input.transaction
        failed: list[str] = []
        cancel_requested = False
        while True:
            if not failed:
                started = [n for n, r in self._exec.steps.items() if r.state != StepState.PENDING]
                for name in ready_steps(tx, self._done_steps(), started):
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
                if record.state in (StepState.NOT_RUN, StepState.SKIPPED):
                    continue  # an approval withdrawn, or a step an operator skipped
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
                        if workflow.patched(REPAIR):  # an operator decides
                            self._tasks[name] = asyncio.create_task(self._repair_step(step))
                            continue
                        self._exec.failed_step = self._exec.failed_step or name
                        continue
                    self._recover_forward(step)
                elif (
                    tx.compensation_strategy == CompensationStrategy.FORWARD
                    and step.approval is None  # a person's rejection is not retried
                    and not failed
                    and record.dispatches <= self._input.config.forward_recovery_attempts
                ):
                    self._launch(step, again=True)
                else:
                    failed.append(name)
                    self._withdraw_approvals()
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
        work = self._run_approval(step) if step.approval else self._run_step(step, forever=forever)
        self._tasks[step.name] = asyncio.create_task(work)

    def _done_steps(self) -> list[str]:
        """Steps their dependents may follow: completed, or skipped by an operator."""
        assert self._exec is not None
        skipped = [n for n, r in self._exec.steps.items() if r.state == StepState.SKIPPED]
        return [*self._exec.completed_steps, *skipped]

    def _withdraw_approvals(self) -> None:
        """Before the pivot a step failed: nobody needs to decide the waiting approvals."""
        assert self._exec is not None
        for name, task in self._tasks.items():
            if self._exec.steps[name].state == StepState.AWAITING_APPROVAL:
                task.cancel()

    def _recover_forward(self, step: SagaStep) -> None:
        assert self._exec is not None
        self._exec.forward_recovery = True
        self._exec.errors.append(
            f"step {step.name!r} failed after the pivot: retrying until it succeeds"
        )
        self._launch(step, again=True, forever=True)

    async def _run_step(self, step: SagaStep, *, forever: bool) -> None:
        assert self._exec is not None and step.action
        record = self._exec.steps[step.name]
        retry = step.retry_policy
        if forever:
            retry = retry.model_copy(update={"maximum_attempts": 0})
        try:
            output = await self._call(step, retry)
        except ActivityError as exc:
            record.state = StepState.FAILED
            agent_id, endpoint = self._agent_of(step)
            record.error = describe_failure(exc, agent_id=agent_id, endpoint=endpoint)
            if failed_for_good(exc, retry):
                self._failed_for_good.append(step.name)
            self._exec.errors.append(f"step {step.name!r}: {record.error}")
            count(metrics.saga_steps_total.labels(step_name=step.name, status="failed"))
        else:
            self._complete(step, output)
        finally:
            self._finished.append(step.name)

    async def _call(self, step: SagaStep, retry: RetrySpec) -> Any:
        """The step's call: to its agent, or routed by its capability."""
        assert step.action is not None
        request = self._request(step, compensating=False)
        timeout_ms = step.timeout_ms or self._input.config.step_timeout_ms
        # A step cancelled mid-call (saga cancelled or timed out) may still complete
        # on its agent: wait for its outcome, so a completed one is compensated too.
        settle = workflow.patched(SETTLE_CANCELLED_STEPS)
        route = step.route
        if route is not None:
            _, output = await call_routed(
                route,
                self._input.routing,
                action=step.action,
                request=request,
                timeout_ms=timeout_ms,
                retry=retry,
                purpose=f"saga {workflow.info().workflow_id} step {step.name}",
                label=f"step {step.name}",
                on_choice=lambda choice: self._routed(step, choice),
                settle_on_cancel=settle,
                priority=self._priority(),
            )
            return output
        assert step.agent_id is not None
        return await dispatch_action(
            agent_id=step.agent_id,
            action=step.action,
            endpoint=step.endpoint,
            request=request,
            timeout_ms=timeout_ms,
            retry=retry,
            summary=f"step {step.name}: {step.agent_id}.{step.action}",
            settle_on_cancel=settle,
            schedule_to_start_timeout_ms=(
                self._input.config.step_start_timeout_ms
                if workflow.patched(STEP_START_TIMEOUT)
                else None
            ),
            priority=self._priority(),
        )

    def _priority(self) -> Priority | None:
        """The task priority of the saga's calls (its ``priority`` and ``fairness_key``)."""
        tx = self._input.transaction
        return call_priority(tx.priority, tx.fairness_key)

    def _routed(self, step: SagaStep, choice: RouteChoice) -> None:
        """A routed step's call goes to ``choice``: the status and the Web UI show it."""
        assert self._exec is not None
        self._routes[step.name] = choice
        self._exec.steps[step.name].agent_id = choice.agent_id
        self._update_details()

    def _agent_of(self, step: SagaStep) -> tuple[str | None, str | None]:
        """(agent id, endpoint) the step's calls go to: its own, or the one it was routed
        to last (None before it was routed)."""
        if step.route is None:
            return step.agent_id, step.endpoint
        choice = self._routes.get(step.name)
        return (choice.agent_id, choice.endpoint) if choice else (None, None)

    def _complete(self, step: SagaStep, output: Any) -> None:
        assert self._exec is not None
        record = self._exec.steps[step.name]
        now = workflow.now()
        record.state = StepState.COMPLETED
        record.completed_at = _iso(now)
        record.duration_ms = _ms_between(record.started_at, now)
        record.error = None
        self._exec.outputs[step.name] = output
        self._exec.completed_steps.append(step.name)
        count(metrics.saga_steps_total.labels(step_name=step.name, status="completed"))

    def _fail(self, step: SagaStep, error: str) -> None:
        """A step failed for good (a rejection, or a skip-less end): retrying cannot help."""
        assert self._exec is not None
        record = self._exec.steps[step.name]
        record.state = StepState.FAILED
        record.error = error
        self._failed_for_good.append(step.name)
        self._exec.errors.append(f"step {step.name!r}: {error}")
        count(metrics.saga_steps_total.labels(step_name=step.name, status="failed"))

    # -- approval steps ------------------------------------------------------------------

    async def _run_approval(self, step: SagaStep) -> None:
        """Wait for a decision on an approval step; complete or fail it by that decision."""
        assert self._exec is not None and step.approval is not None
        record = self._exec.steps[step.name]
        record.state = StepState.AWAITING_APPROVAL
        try:
            decision = await self._await_decision(step)
            if decision.decision == "approved":
                output = {"approved_by": decision.approver, "approved_at": decision.at}
                self._complete(step, {**output, "comment": decision.note})
            elif decision.decision == "skipped":
                self._skip(step, decision.note or "", None)
            elif decision.decision == "timed_out":
                self._fail(step, f"{decision.note}: rejected (on_timeout=reject)")
            else:
                self._fail(step, f"rejected by {decision.approver}: {decision.note}")
        except asyncio.CancelledError:
            record.state = StepState.NOT_RUN  # withdrawn: the saga stopped or compensates
            record.error = "no longer awaited: the saga stopped before a decision"
            raise
        finally:
            self._finished.append(step.name)

    async def _await_decision(self, step: SagaStep) -> ApprovalRecord:
        """The decision on ``step``: an approval or rejection, ``timed_out`` past its timeout
        (``on_timeout="reject"``), or, parked (``"intervene"``), ``skipped`` by an operator
        (``retry`` waits again; approving or rejecting while parked also decides)."""
        assert self._exec is not None and step.approval is not None
        name, approval = step.name, step.approval
        while True:
            now = workflow.now()
            timeout = timedelta(milliseconds=approval.timeout_ms)
            pending = PendingApproval(
                step=name,
                approvers=list(approval.approvers),
                since=_iso(now),
                until=_iso(now + timeout),
                on_timeout=approval.on_timeout,
            )
            self._exec.pending_approvals.append(pending)
            self._refresh_state()
            self._notify(
                "saga.approval_requested",
                name,
                f"awaiting approval by {', '.join(pending.approvers)}",
            )
            decided = True
            try:
                await workflow.wait_condition(
                    lambda: name in self._decisions,
                    timeout=timeout,
                    timeout_summary=f"approval {name}",
                )
            except TimeoutError:
                decided = False
            except asyncio.CancelledError:
                self._exec.pending_approvals.remove(pending)
                raise
            self._exec.pending_approvals.remove(pending)
            self._refresh_state()
            if decided:
                return self._decisions.pop(name)
            waited = f"no decision within {human_ms(approval.timeout_ms)}"
            if approval.on_timeout == ApprovalTimeout.REJECT:
                record = ApprovalRecord(
                    step=name, decision="timed_out", note=waited, at=_iso(workflow.now())
                )
                self._exec.approvals.append(record)
                return record
            incident = self._incident(
                step, IncidentKind.APPROVAL, waited, [ResolveAction.RETRY, ResolveAction.SKIP]
            )
            resolution = await self._park(incident, also=lambda: name in self._decisions)
            if resolution is None:  # approved or rejected while parked
                return self._decisions.pop(name)
            if resolution.action == ResolveAction.SKIP:
                return ApprovalRecord(
                    step=name, decision="skipped", approver=resolution.by, note=resolution.reason,
                    identity=resolution.identity, at=_iso(workflow.now()),
                )  # fmt: skip

    # -- operators: parking and repair ---------------------------------------------------

    def _incident(
        self, step: SagaStep, kind: IncidentKind, error: str, actions: list[ResolveAction]
    ) -> Incident:
        action = step.compensation if kind == IncidentKind.COMPENSATION else step.action
        return Incident(
            step=step.name,
            kind=kind,
            error=error,
            agent_id=self._agent_of(step)[0],
            action=action,
            since=_iso(workflow.now()),
            actions=actions,
        )

    async def _park(
        self, incident: Incident, *, also: Callable[[], bool] | None = None
    ) -> Resolution | None:
        """Wait in NEEDS_INTERVENTION for the operator's resolution of ``incident`` (None when
        ``also`` became true first)."""
        assert self._exec is not None
        self._exec.incidents.append(incident)
        self._refresh_state()
        self._update_details()
        self._notify("saga.intervention_needed", incident.step, incident.error)
        try:
            await wait_for_operator(
                lambda: incident.step in self._resolutions or (also is not None and also()),
                lambda: self._notify(
                    "saga.intervention_needed", incident.step, f"still: {incident.error}"
                ),
            )
        except asyncio.CancelledError:  # the saga stopped (before its pivot)
            self._exec.incidents.remove(incident)
            raise
        self._exec.incidents.remove(incident)
        self._refresh_state()
        self._update_details()
        return self._resolutions.pop(incident.step, None)

    async def _repair_step(self, step: SagaStep) -> None:
        """After the pivot ``step`` failed for good: park; then retry it (parked again if it
        fails again) or skip it, as the operator says."""
        assert self._exec is not None
        record = self._exec.steps[step.name]
        incident = self._incident(
            step,
            IncidentKind.STEP,
            record.error or "failed",
            [ResolveAction.RETRY, ResolveAction.SKIP],
        )
        resolution = await self._park(incident)
        assert resolution is not None
        if resolution.action == ResolveAction.SKIP:
            self._skip(step, resolution.reason, resolution.data)
            self._finished.append(step.name)
            return
        if resolution.data is not None:
            self._inputs[step.name] = resolution.data
        self._failed_for_good.remove(step.name)
        record.state = StepState.RUNNING
        record.dispatches += 1
        if step.approval is not None:
            await self._run_approval(step)
        else:
            await self._run_step(step, forever=True)

    def _skip(self, step: SagaStep, reason: str, output: Any) -> None:
        assert self._exec is not None
        record = self._exec.steps[step.name]
        record.state = StepState.SKIPPED
        record.completed_at = _iso(workflow.now())
        self._exec.outputs[step.name] = output
        self._exec.errors.append(f"step {step.name!r} skipped by an operator: {reason}")
        count(metrics.saga_steps_total.labels(step_name=step.name, status="skipped"))

    def _notify(self, event: str, step: str, reason: str) -> None:
        """Publish ``event`` through the worker's bus when the saga was started with events
        (best effort: a failure is noted in ``errors``, never fails the saga)."""
        assert self._exec is not None
        if not self._input.events:
            return
        notice = SagaNotice(
            event=event,
            transaction_id=self._exec.transaction_id,
            name=self._exec.name,
            step=step,
            reason=reason,
        )
        self._notices.append(asyncio.create_task(self._send_notice(notice)))

    async def _send_notice(self, notice: SagaNotice) -> None:
        assert self._exec is not None
        try:
            await workflow.execute_activity(
                SAGA_NOTICE_ACTIVITY,
                notice,
                start_to_close_timeout=_NOTICE_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=3),
                summary=f"notify {notice.event}: {notice.step}",
            )
        except ActivityError as exc:
            self._exec.errors.append(f"could not publish {notice.event}: {describe_failure(exc)}")

    async def _deadline(self, timeout_ms: int) -> None:
        await workflow.sleep(timedelta(milliseconds=timeout_ms), summary="saga deadline")
        self._deadline_passed = True

    async def _deadline_sparing_people(self, timeout_ms: int) -> None:
        """The deadline of a saga with approval steps: its clock stops while a person is
        awaited (an approval, or an operator), so ``timeout_ms`` bounds the machines' time."""
        timeout = timedelta(milliseconds=timeout_ms)
        await sparing(timeout, self._awaiting_people, summary="saga deadline")
        self._deadline_passed = True

    def _awaiting_people(self) -> bool:
        assert self._exec is not None
        return bool(self._exec.pending_approvals or self._exec.incidents)

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
        tx = self._input.transaction
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
        tx = self._input.transaction
        self._exec.errors.append(f"compensating: {reason}")
        completed = list(self._exec.completed_steps)
        strategy = tx.compensation_strategy
        targets = compensation_targets(tx, completed, failed)
        # Completed steps outside the scope, or without a compensation, stay committed.
        self._exec.committed_steps = [n for n in completed if n not in targets]
        if not targets:
            return
        self._phase = SagaState.COMPENSATING
        self._refresh_state()
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
        tx = self._input.transaction
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
        step = self._input.transaction.step(name)
        assert step.compensation is not None
        agent_id, endpoint = self._agent_of(step)  # the agent that completed it
        assert agent_id is not None
        record = self._exec.steps[name]
        record.state = StepState.COMPENSATING
        record.compensation_started_at = _iso(workflow.now())
        self._update_details()
        while True:
            try:
                await dispatch_action(
                    agent_id=agent_id,
                    action=step.compensation,
                    endpoint=endpoint,
                    request=self._request(step, compensating=True),
                    timeout_ms=self._input.config.compensation_timeout_ms,
                    retry=self._input.config.compensation_retry,
                    summary=f"compensate {name}: {agent_id}.{step.compensation}",
                    cancellable=False,
                    priority=self._priority(),
                )
                break
            except ActivityError as exc:
                error = describe_failure(exc)
                record.state = StepState.COMPENSATION_FAILED
                record.compensation_error = error
                self._exec.errors.append(f"compensation of {name!r}: {error}")
                if not workflow.patched(REPAIR):
                    self._exec.manual_intervention_required = True
                    return False
            actions = [ResolveAction.RETRY, ResolveAction.MARK_COMPENSATED]
            incident = self._incident(step, IncidentKind.COMPENSATION, error, actions)
            resolution = await self._park(incident)
            assert resolution is not None
            if resolution.action == ResolveAction.MARK_COMPENSATED:
                break
            record.state = StepState.COMPENSATING  # retry: the same call, the same key
        record.state = StepState.COMPENSATED
        record.compensation_completed_at = _iso(workflow.now())
        self._exec.compensated_steps.append(name)
        count(metrics.saga_compensations_total)
        return True

    # -- bookkeeping -------------------------------------------------------------------

    def _request(self, step: SagaStep, *, compensating: bool) -> ActionRequest:
        assert self._exec is not None and self._saga is not None
        request = step_request(
            self._saga, self._exec, step, workflow.info().workflow_id, compensating=compensating
        )
        if not compensating and step.name in self._inputs:
            request = request.model_copy(update={"data": self._inputs[step.name]})
        return request

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

    def _refresh_state(self) -> None:
        """Show what the saga waits for now (NEEDS_INTERVENTION, AWAITING_APPROVAL) or its
        phase: a changed state is upserted as the search attribute, and the Web UI's current
        details are redrawn (they are not history: replay is unaffected)."""
        assert self._exec is not None
        if self._exec.state in ENDED:
            return
        self._exec.manual_intervention_required = bool(self._exec.incidents)
        state = state_now(self._exec, self._phase)
        if state != self._exec.state:
            self._set_state(state)
        self._update_details()

    def _update_details(self) -> None:
        assert self._exec is not None
        workflow.set_current_details(current_details(self._exec))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _ms_between(start_iso: str | None, end: datetime) -> float | None:
    if start_iso is None:
        return None
    return (end - datetime.fromisoformat(start_iso)).total_seconds() * 1000
