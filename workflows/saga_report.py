"""What a saga says about itself: the outcome in one line (its error's message) and the
current details the Web UI shows. Pure functions of the execution record."""

from __future__ import annotations

from workflows.saga_models import SagaExecution, StepState

__all__ = ["current_details", "outcome_line"]

_SHOWN_STATES = (
    StepState.RUNNING,
    StepState.AWAITING_APPROVAL,
    StepState.COMPENSATING,
    StepState.COMPLETED,
    StepState.COMPENSATED,
    StepState.FAILED,
    StepState.COMPENSATION_FAILED,
    StepState.SKIPPED,
)


def outcome_line(execution: SagaExecution) -> str:
    """``saga 'x' compensated; step 'b' failed: ...; compensated a`` and so on."""
    e = execution
    parts = [f"saga {e.name!r} {e.state.value.lower()}"]
    if e.failed_step:
        parts.append(f"step {e.failed_step!r} failed: {e.steps[e.failed_step].error}")
    if e.compensated_steps:
        parts.append(f"compensated {', '.join(e.compensated_steps)}")
    if e.uncompensated_steps:
        parts.append(f"NOT compensated {', '.join(e.uncompensated_steps)}")
    if e.manual_intervention_required:
        parts.append("manual intervention required")
    return "; ".join(parts)


def current_details(execution: SagaExecution) -> str:
    """The Web UI's current details: the saga's state, then its steps by state."""
    by_state: dict[StepState, list[str]] = {}
    for name, record in execution.steps.items():
        by_state.setdefault(record.state, []).append(name)
    lines = [f"**{execution.name}**: {execution.state.value}"]
    for state in _SHOWN_STATES:
        if state in by_state:
            lines.append(f"- {state.value.lower()}: {', '.join(by_state[state])}")
    if execution.forward_recovery:
        lines.append("- pivot completed: failures are retried until they succeed")
    for pending in execution.pending_approvals:
        lines.append(
            f"- awaiting approval: {pending.step} by {', '.join(pending.approvers)} "
            f"(until {pending.until[:19].replace('T', ' ')} UTC)"
        )
    for incident in execution.incidents:
        where = f" on {incident.agent_id}.{incident.action}" if incident.agent_id else ""
        actions = ", ".join(a.value for a in incident.actions)
        lines.append(
            f"- needs intervention: {incident.step} ({incident.kind.value}){where}: "
            f"{incident.error}; resolve with {actions}"
        )
    return "\n".join(lines)
