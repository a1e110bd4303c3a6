"""What a workflow's operator updates share: reading their argument, refusing one in its
validator (nothing is recorded), and whether a resolution fits the incidents parked now.
Pure functions, used by the saga and pipeline workflows."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar

import pydantic
from temporalio.exceptions import ApplicationError

from orchestration.core.validation import describe
from workflows.operations_models import Incident, Resolution

__all__ = ["REFUSED", "argument", "refuse", "resolution_refusal"]

REFUSED = "RequestRefused"
"""ApplicationError type of an update a validator refused (nothing was recorded)."""

M = TypeVar("M", bound=pydantic.BaseModel)


def argument(model: type[M], raw: Any, update: str) -> M:
    """An update's argument as ``model``, or the refusal naming the field."""
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ApplicationError(
            f"{update}: {describe(exc, 'argument')}", type=REFUSED, non_retryable=True
        ) from None


def refuse(refusal: str | None) -> None:
    """Refuse the update (in its validator) when ``refusal`` says why."""
    if refusal is not None:
        raise ApplicationError(refusal, type=REFUSED, non_retryable=True)


def resolution_refusal(
    incidents: Sequence[Incident],
    resolution: Resolution,
    *,
    resolved: Collection[str],
    state: str,
    part: str,
) -> str | None:
    """Why ``resolution`` does not fit the ``incidents`` parked now, or None when it does.

    Args:
        resolved: parts resolved in this workflow task already (not yet acted on).
        state: the workflow's state, for the message.
        part: what the workflow's parts are called (``step``, ``stage``).
    """
    incident = next((i for i in incidents if i.step == resolution.step), None)
    if incident is None or resolution.step in resolved:
        parked = ", ".join(i.step for i in incidents) or "none"
        return (
            f"{part} {resolution.step!r} is not waiting for an operator (state {state}; "
            f"waiting: {parked})"
        )
    if resolution.action not in incident.actions:
        allowed = " or ".join(action.value for action in incident.actions)
        return (
            f"{part} {resolution.step!r} ({incident.kind.value} failed) is resolved with "
            f"{allowed}, not {resolution.action.value}"
        )
    return None
