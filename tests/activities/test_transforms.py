"""The built-in ``aggregate`` transform: a PARALLEL stage's outputs reduced as replies are."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.transforms import run_transform
from workflows.pipeline_models import TransformRequest

OUTPUTS = {"calc-1": {"value": 279.6}, "calc-2": {"value": 248.4}, "calc-3": {"value": 254.4}}


async def aggregate(value: object, **params: object) -> object:
    request = TransformRequest(name="aggregate", value=value, params=params)
    return await ActivityEnvironment().run(run_transform, request)


async def test_the_outputs_of_every_agent_are_averaged() -> None:
    result = await aggregate(OUTPUTS, strategy="average", min_responses=3)
    assert isinstance(result, dict)
    assert round(result["value"], 3) == 260.8
    assert (result["responses"], result["used"], result["skipped"]) == (3, 3, {})


@pytest.mark.parametrize(
    ("value", "params", "problem"),
    [
        ([1, 2], {}, "aggregate needs a PARALLEL stage's outputs"),
        (OUTPUTS, {"min_responses": 4}, "3 outputs, fewer than min_responses 4"),
        (OUTPUTS, {"strategy": "loudest"}, "ValidationError"),
        ({"a": {"other": 1}}, {}, "AggregationError"),
    ],
)
async def test_what_cannot_be_aggregated_fails_at_once_saying_why(
    value: object, params: dict[str, object], problem: str
) -> None:
    with pytest.raises(ApplicationError) as failed:
        await aggregate(value, **params)
    assert failed.value.non_retryable
    assert problem in str(failed.value)
