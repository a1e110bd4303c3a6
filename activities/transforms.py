"""Named transforms: registered Python functions a pipeline stage applies to its output.

Transforms run as one activity (``orchestration.transform``) on the orchestration worker; a
stage names one (``TransformRef(name, params)``) — never code. Built in:

- ``identity``: the value unchanged;
- ``flatten``: a list of lists as one list;
- ``pick``: ``params["field"]`` of a dict (dotted for nested dicts);
- ``sum``: the sum of a list of numbers, or of ``params["field"]`` of a list of dicts, added
  as decimals (a decimal string when any value is one);
- ``round``: a number (or decimal string) rounded to ``params["digits"]`` (default 2);
- ``aggregate``: a PARALLEL stage's outputs (agent -> output) reduced as a scatter-gather's
  replies are (:func:`registry.routing.aggregation.aggregate`): ``params["strategy"]``
  (``average``, ``median``, ``majority_vote``, ...), ``params["field"]`` (default ``value``)
  and ``params["min_responses"]``; gives ``{"value", "responses", "used", "skipped"}``.

Add your own in a module the worker imports (``ORCH_WORKER_MODULES=my_pkg.transforms``)::

    from activities.transforms import transform

    @transform("kg_to_tonnes")
    def kg_to_tonnes(value, params):
        return value / 1000
"""

from __future__ import annotations

import decimal
import inspect
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from orchestration.core.exceptions import OrchestrationError
from registry.routing.aggregation import Reply, aggregate
from workflows.pipeline_models import TRANSFORM_ACTIVITY, TransformRequest
from workflows.reducers import Reduction

__all__ = ["registered", "run_transform", "transform"]

Transform = Callable[[Any, dict[str, Any]], Any]
_TRANSFORMS: dict[str, Transform] = {}


def transform(name: str) -> Callable[[Transform], Transform]:
    """Register ``fn(value, params) -> value`` (sync or async) as the transform ``name``."""

    def register(fn: Transform) -> Transform:
        if name in _TRANSFORMS and _TRANSFORMS[name] is not fn:
            raise ValueError(f"transform {name!r} is registered twice")
        _TRANSFORMS[name] = fn
        return fn

    return register


def registered() -> list[str]:
    return sorted(_TRANSFORMS)


def _bad(name: str, problem: str) -> ApplicationError:
    return ApplicationError(
        f"transform {name!r}: {problem}", type="InvalidTransform", non_retryable=True
    )


@activity.defn(name=TRANSFORM_ACTIVITY)
async def run_transform(request: TransformRequest) -> Any:
    """Apply the registered transform; a bad value fails at once (no retries)."""
    fn = _TRANSFORMS.get(request.name)
    if fn is None:
        raise _bad(
            request.name,
            f"not registered on this worker (it has {', '.join(registered())}; add yours "
            "with ORCH_WORKER_MODULES)",
        )
    try:
        result = fn(request.value, request.params)
        if inspect.isawaitable(result):
            result = await result
    except (TypeError, ValueError, KeyError, decimal.InvalidOperation) as exc:
        raise _bad(request.name, f"{type(exc).__name__}: {exc}") from None
    except OrchestrationError as exc:  # the value cannot be aggregated, say
        raise _bad(request.name, f"{type(exc).__name__}: {exc}") from None
    return result


@transform("identity")
def _identity(value: Any, params: dict[str, Any]) -> Any:
    return value


@transform("flatten")
def _flatten(value: Any, params: dict[str, Any]) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        raise TypeError("flatten needs a list of lists")
    return [item for part in value for item in part]


def _field(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"no field {path!r}")
        value = value[part]
    return value


@transform("pick")
def _pick(value: Any, params: dict[str, Any]) -> Any:
    return _field(value, str(params["field"]))


@transform("sum")
def _sum(value: Any, params: dict[str, Any]) -> Any:
    if not isinstance(value, list):
        raise TypeError("sum needs a list")
    field = params.get("field")
    total = Reduction("sum")
    for index, item in enumerate(value):
        total.add(index, _field(item, str(field)) if field else item)
    return total.result()


@transform("round")
def _round(value: Any, params: dict[str, Any]) -> Any:
    digits = int(params.get("digits", 2))
    number = decimal.Decimal(str(value))
    rounded = number.quantize(decimal.Decimal(1).scaleb(-digits), decimal.ROUND_HALF_EVEN)
    return format(rounded, "f") if isinstance(value, str) else float(rounded)


@transform("aggregate")
def _aggregate(value: Any, params: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise TypeError("aggregate needs a PARALLEL stage's outputs: agent -> JSON object")
    wanted = int(params.get("min_responses", 1))
    if len(value) < wanted:
        raise ValueError(f"{len(value)} outputs, fewer than min_responses {wanted}")
    replies = [Reply(agent_id=agent, payload=output) for agent, output in value.items()]
    result = aggregate(
        str(params.get("strategy", "average")), replies, field=str(params.get("field", "value"))
    )
    return {
        "value": result.value,
        "responses": result.responses,
        "used": result.used,
        "skipped": result.skipped,
    }
