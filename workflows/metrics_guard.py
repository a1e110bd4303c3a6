"""Metrics from workflow code: counted when the event really happens, never on replay."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

__all__ = ["count", "observe"]


def count(counter: Any, amount: float = 1) -> None:
    """``counter.inc(amount)`` unless the workflow is replaying history."""
    if not workflow.unsafe.is_replaying():
        counter.inc(amount)


def observe(histogram: Any, value: float) -> None:
    """``histogram.observe(value)`` unless the workflow is replaying history."""
    if not workflow.unsafe.is_replaying():
        histogram.observe(value)
