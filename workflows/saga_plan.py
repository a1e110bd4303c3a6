"""Pure logic of sagas: readiness, what to compensate and in which order, and what each
step call carries. No Temporal here."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from workflows.models import ActionRequest
from workflows.saga_models import (
    CompensationStrategy,
    SagaExecution,
    SagaInput,
    SagaStep,
    SagaTransaction,
)

__all__ = [
    "ancestors",
    "cascade_ready",
    "compensation_targets",
    "descendants",
    "ready_steps",
    "step_request",
]


def ready_steps(
    transaction: SagaTransaction, completed: Collection[str], started: Collection[str]
) -> list[str]:
    """Steps not started yet whose dependencies all completed, in declaration order."""
    return [
        step.name
        for step in transaction.steps
        if step.name not in started and all(d in completed for d in step.depends_on)
    ]


def ancestors(transaction: SagaTransaction, name: str) -> set[str]:
    """Every step ``name`` depends on, transitively."""
    seen: set[str] = set()
    todo = list(transaction.step(name).depends_on)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(transaction.step(current).depends_on)
    return seen


def descendants(transaction: SagaTransaction, name: str) -> set[str]:
    """Every step that depends on ``name``, transitively."""
    dependents: dict[str, list[str]] = {step.name: [] for step in transaction.steps}
    for step in transaction.steps:
        for dep in step.depends_on:
            dependents[dep].append(step.name)
    seen: set[str] = set()
    todo = list(dependents[name])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(dependents[current])
    return seen


def cascade_ready(
    transaction: SagaTransaction,
    to_compensate: Iterable[str],
    compensated: Collection[str],
    started: Collection[str],
) -> list[str]:
    """CASCADE: steps whose every dependent that must be compensated already has been.

    Args:
        to_compensate: completed steps that have a compensation, in completion order.
        compensated: those whose compensation completed.
        started: those whose compensation was started (running or finished).
    """
    pending = list(to_compensate)
    wanted = set(pending)
    ready = []
    for name in reversed(pending):  # newest first among those ready together
        if name in started:
            continue
        blockers = descendants(transaction, name) & wanted
        if all(b in compensated for b in blockers):
            ready.append(name)
    return ready


def compensation_targets(
    transaction: SagaTransaction, completed: Iterable[str], failed: str | None
) -> list[str]:
    """The completed steps to compensate, in completion order: those with a compensation,
    and under SELECTIVE (when a step failed) only the ones the failed step depends on."""
    scope = list(completed)
    if transaction.compensation_strategy == CompensationStrategy.SELECTIVE and failed is not None:
        needed = ancestors(transaction, failed)
        scope = [n for n in scope if n in needed]
    return [n for n in scope if transaction.step(n).compensation]


def step_request(
    saga: SagaInput,
    execution: SagaExecution,
    step: SagaStep,
    workflow_id: str,
    *,
    compensating: bool,
) -> ActionRequest:
    """What a step's action (or its compensation) receives: the saga's initial data, its
    dependencies' outputs (and, compensating, its own output), and the idempotency key
    ``<workflow id>/<step>`` (``.../compensate`` for the compensation)."""
    context: dict[str, Any] = {
        "saga": saga.transaction.name,
        "step": step.name,
        "dependencies": {d: execution.outputs.get(d) for d in step.depends_on},
    }
    key = f"{workflow_id}/{step.name}"
    if compensating:
        context["output"] = execution.outputs.get(step.name)
        key += "/compensate"
    return ActionRequest(
        data=saga.initial_data, idempotency_key=key, caller=workflow_id, context=context
    )
