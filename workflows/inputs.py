"""Workflow inputs, checked inside the workflow: a bad start fails the run at once.

Every workflow's run method takes its input undecoded and checks it here. Decoded as its
model by the SDK instead, an invalid input (a dependency cycle, a missing field, a JSON
string) fails the workflow *task* ("Failed decoding arguments"), which Temporal retries
without end while the workflow shows Running. Checked here, a start from the temporal CLI,
another SDK or an old client fails the workflow itself, once, with a non-retryable
``ApplicationError`` of type :data:`INVALID_INPUT` whose message names every field and
problem (also in its details, as ``[{"field": ..., "problem": ...}]``).
"""

from __future__ import annotations

from typing import TypeVar

import pydantic
from temporalio.exceptions import ApplicationError

from orchestration.core.validation import describe, field_problems

__all__ = ["INVALID_INPUT", "checked_input"]

INVALID_INPUT = "InvalidWorkflowInput"

M = TypeVar("M", bound=pydantic.BaseModel)


def checked_input(model: type[M], raw: object) -> M:
    """``raw`` (the decoded JSON a workflow was started with) as ``model``.

    Raises:
        ApplicationError: non-retryable, of type ``InvalidWorkflowInput``: ``raw`` is not a
            valid ``model``; the message names each field and its problem.
    """
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ApplicationError(
            f"invalid {model.__name__}: {describe(exc, 'input')}",
            field_problems(exc, "input"),
            type=INVALID_INPUT,
            non_retryable=True,
        ) from None
