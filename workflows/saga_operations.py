"""Pure logic of a saga's operator requests: whether an approval, a rejection or a
resolution may be taken now (the updates' validators), and the state a saga shows while
people are awaited. No Temporal here."""

from __future__ import annotations

from collections.abc import Collection

from workflows.operations_models import Resolution
from workflows.saga_models import (
    ApprovalDecision,
    SagaExecution,
    SagaInput,
    SagaState,
    StepState,
)
from workflows.updates import resolution_refusal as fits_incidents

__all__ = ["ENDED", "approval_refusal", "human_ms", "resolution_refusal", "state_now"]

ENDED = frozenset({SagaState.COMPLETED, SagaState.COMPENSATED, SagaState.FAILED, SagaState.ABORTED})


def human_ms(ms: int) -> str:
    """``90000`` → ``90 s``, ``7200000`` → ``2 h``, ``259200000`` → ``3 days``."""
    for unit, size in (("days", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            count = ms // size
            return f"{count} {'day' if unit == 'days' and count == 1 else unit}"
    return f"{ms} ms"


def _not_open(saga: SagaInput | None, execution: SagaExecution | None) -> str | None:
    if saga is None or execution is None:
        return "the saga has not started running yet"
    if execution.state in ENDED:
        return f"saga {execution.transaction_id!r} already ended ({execution.state.value})"
    return None


def approval_refusal(
    saga: SagaInput | None,
    execution: SagaExecution | None,
    decision: ApprovalDecision,
    *,
    rejecting: bool,
    decided: Collection[str],
) -> str | None:
    """Why ``decision`` cannot be taken now, or None when it can.

    Args:
        decided: steps decided in this workflow task already (not yet acted on).
    """
    refusal = _not_open(saga, execution)
    if refusal is not None:
        return refusal
    assert saga is not None and execution is not None
    steps = {step.name: step for step in saga.transaction.steps}
    step = steps.get(decision.step)
    if step is None:
        approvals = [name for name, s in steps.items() if s.approval is not None]
        return (
            f"saga {execution.transaction_id!r} has no step {decision.step!r} "
            f"(its approval steps: {', '.join(approvals) or 'none'})"
        )
    if step.approval is None:
        return f"step {step.name!r} is not an approval step (it runs {step.agent_id}.{step.action})"
    state = execution.steps[step.name].state
    if state != StepState.AWAITING_APPROVAL or step.name in decided:
        shown = "decided already" if step.name in decided else state.value
        return f"step {step.name!r} is not awaiting approval (it is {shown})"
    approvers = {name.casefold() for name in step.approval.approvers}
    if decision.approver.casefold() not in approvers:
        return (
            f"{decision.approver!r} is not an approver of step {step.name!r} "
            f"(approvers: {', '.join(step.approval.approvers)})"
        )
    if rejecting and not decision.note:
        return "a rejection needs a reason"
    return None


def resolution_refusal(
    saga: SagaInput | None,
    execution: SagaExecution | None,
    resolution: Resolution,
    *,
    resolved: Collection[str],
) -> str | None:
    """Why ``resolution`` cannot be taken now, or None when it can.

    Args:
        resolved: steps resolved in this workflow task already (not yet acted on).
    """
    refusal = _not_open(saga, execution)
    if refusal is not None:
        return refusal
    assert execution is not None
    return fits_incidents(
        execution.incidents,
        resolution,
        resolved=resolved,
        state=execution.state.value,
        part="step",
    )


def state_now(execution: SagaExecution, phase: SagaState) -> SagaState:
    """What a saga that has not ended shows: parked, awaiting a person, or its phase
    (RUNNING or COMPENSATING)."""
    if execution.incidents:
        return SagaState.NEEDS_INTERVENTION
    if execution.pending_approvals:
        return SagaState.AWAITING_APPROVAL
    return phase
