"""Named reducers: how partial results become one (swarms now, pipelines' map-reduce too).

A reducer folds partial results one at a time, in any order, into an accumulator that is
plain JSON (so a workflow can carry it across continue-as-new), and gives the final value:

- ``sum``: the sum of each partial's ``value`` field (or of the partial itself when it is a
  number). Exact: numbers are added as decimals, so the order partials arrive in never
  changes the total. Integers give an integer, any decimal string (``"12.34"``) gives a
  decimal string, otherwise a float.
- ``count``: how many partials there were.
- ``min`` / ``max``: the smallest / largest ``value``.
- ``concat``: the partials' lists joined, ordered by partition id (``partial`` lists, or
  ``items`` lists of dict partials).
- ``merge``: the partials' dicts merged, ordered by partition id, later keys winning, numbers
  under the same key added exactly (as ``sum``).

Pure and deterministic: safe in workflow code.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

from orchestration.core.exceptions import ValidationError

__all__ = ["REDUCERS", "ReducerError", "Reduction", "check_reducer"]

_CONTEXT = decimal.Context(prec=60)


class ReducerError(ValidationError):
    """A partial result the reducer cannot use (the text says which partition and why)."""


def check_reducer(name: str) -> str:
    """``name`` if it names a reducer, else ValueError listing them."""
    if name not in REDUCERS:
        raise ValueError(f"unknown reducer {name!r}: use one of {', '.join(sorted(REDUCERS))}")
    return name


def _number(partial: Any, partition: int) -> Any:
    value = partial.get("value") if isinstance(partial, dict) else partial
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ReducerError(f"partition {partition}: {value!r} is not a number")
    return value


def _decimal(value: Any, partition: int) -> decimal.Decimal:
    try:
        number = _CONTEXT.create_decimal(value if isinstance(value, int | str) else repr(value))
    except decimal.InvalidOperation:
        raise ReducerError(f"partition {partition}: {value!r} is not a number") from None
    if not number.is_finite():
        raise ReducerError(f"partition {partition}: {value!r} is not finite")
    return number


def _kind(old: str, value: Any) -> str:
    """The result type: int until a float or decimal string shows up; str beats float."""
    new = "int" if isinstance(value, int) else "str" if isinstance(value, str) else "float"
    order = {"int": 0, "float": 1, "str": 2}
    return new if order[new] > order[old] else old


def _finish_number(total: str, kind: str) -> Any:
    number = decimal.Decimal(total)
    if kind == "int":
        return int(number)
    if kind == "float":
        return float(number)
    return format(number, "f")


class Reduction:
    """One reducer's running state (``accumulator`` is JSON; rebuild with ``Reduction(name,
    accumulator)``)."""

    def __init__(self, name: str, accumulator: dict[str, Any] | None = None) -> None:
        self.name = check_reducer(name)
        self.accumulator: dict[str, Any] = accumulator or REDUCERS[name][0]()

    def add(self, partition: int, partial: Any) -> None:
        """Fold in partition ``partition``'s partial result.

        Raises:
            ReducerError: the partial does not fit the reducer.
        """
        REDUCERS[self.name][1](self.accumulator, partition, partial)

    def result(self) -> Any:
        return REDUCERS[self.name][2](self.accumulator)


# -- the reducers: (initial accumulator, add, finish) -----------------------------------------


def _sum_add(acc: dict[str, Any], partition: int, partial: Any) -> None:
    value = _number(partial, partition)
    total = _CONTEXT.add(decimal.Decimal(acc["total"]), _decimal(value, partition))
    acc["total"], acc["kind"] = str(total), _kind(acc["kind"], value)


def _extreme(pick: Callable[[decimal.Decimal, decimal.Decimal], bool]) -> Callable[..., None]:
    def add(acc: dict[str, Any], partition: int, partial: Any) -> None:
        value = _number(partial, partition)
        number = _decimal(value, partition)
        if acc["value"] is None or pick(number, decimal.Decimal(acc["value"])):
            acc["value"], acc["raw"] = str(number), value

    return add


def _concat_add(acc: dict[str, Any], partition: int, partial: Any) -> None:
    items = partial.get("items") if isinstance(partial, dict) else partial
    if not isinstance(items, list):
        raise ReducerError(f"partition {partition}: concat needs a list, got {partial!r}")
    acc["parts"][str(partition)] = items


def _merge_add(acc: dict[str, Any], partition: int, partial: Any) -> None:
    if not isinstance(partial, dict):
        raise ReducerError(f"partition {partition}: merge needs a dict, got {partial!r}")
    acc["parts"][str(partition)] = partial


def _merge_finish(acc: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    sums: dict[str, tuple[decimal.Decimal, str]] = {}
    for partition in sorted(acc["parts"], key=int):
        for key, value in acc["parts"][partition].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total, kind = sums.get(key, (decimal.Decimal(0), "int"))
                sums[key] = (
                    _CONTEXT.add(total, _decimal(value, int(partition))),
                    _kind(kind, value),
                )
            else:
                merged[key] = value
    for key, (total, kind) in sums.items():
        merged[key] = _finish_number(str(total), kind)
    return merged


REDUCERS: dict[
    str, tuple[Callable[[], dict[str, Any]], Callable[..., None], Callable[..., Any]]
] = {
    "sum": (
        lambda: {"total": "0", "kind": "int"},
        _sum_add,
        lambda acc: _finish_number(acc["total"], acc["kind"]),
    ),
    "count": (
        lambda: {"count": 0},
        lambda acc, _partition, _partial: acc.__setitem__("count", acc["count"] + 1),
        lambda acc: acc["count"],
    ),
    "min": ({"value": None, "raw": None}.copy, _extreme(lambda a, b: a < b), lambda a: a["raw"]),
    "max": ({"value": None, "raw": None}.copy, _extreme(lambda a, b: a > b), lambda a: a["raw"]),
    "concat": (
        lambda: {"parts": {}},
        _concat_add,
        lambda acc: [x for p in sorted(acc["parts"], key=int) for x in acc["parts"][p]],
    ),
    "merge": (lambda: {"parts": {}}, _merge_add, _merge_finish),
}
