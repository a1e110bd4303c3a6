"""Pure graph logic of sagas: readiness and compensation order. No Temporal here."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from workflows.saga_models import SagaTransaction

__all__ = ["ancestors", "cascade_ready", "descendants", "ready_steps"]


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
