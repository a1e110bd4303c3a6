"""Waiting on people in workflow code: a deadline whose clock stops while they are awaited,
and the wait for an operator (which wakes once a day)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

__all__ = ["REMINDER", "sparing", "wait_for_operator"]

REMINDER = timedelta(days=1)
"""How often a parked workflow wakes while it waits for an operator."""


async def sparing(length: timedelta, paused: Callable[[], bool], *, summary: str) -> None:
    """Return once ``length`` of time has passed while ``paused()`` was false: a deadline for
    the machines' work that does not run while a person (an approver, an operator) is
    awaited. One timer per stretch of unpaused time."""
    remaining = length
    while remaining > timedelta(0):
        await workflow.wait_condition(lambda: not paused())
        started = workflow.now()
        try:
            await workflow.wait_condition(paused, timeout=remaining, timeout_summary=summary)
        except TimeoutError:
            return
        remaining -= workflow.now() - started


async def wait_for_operator(resolved: Callable[[], bool], remind: Callable[[], None]) -> None:
    """Wait until ``resolved()``, waking every ``REMINDER`` meanwhile to ``remind`` people.

    The pending timer also keeps the time-skipping test server from skipping to the end of
    time while a test waits for the workflow's result.
    """
    while True:
        try:
            await workflow.wait_condition(
                resolved, timeout=REMINDER, timeout_summary="waiting for an operator"
            )
            return
        except TimeoutError:
            remind()
