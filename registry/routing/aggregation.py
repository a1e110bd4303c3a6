"""Reduce the replies of a scatter-gather to one result.

A scatter-gather sends one request to several agents and collects their reply payloads (JSON
objects); :func:`aggregate` reduces them to one :class:`AggregationResult`. It is pure: no
I/O, no randomness, and the same replies in the same order always give the same result.

Which field is read:
    ``field`` (default ``"value"``) names the payload field that the numeric strategies and
    ``MAJORITY_VOTE`` read. A dotted path walks nested objects: ``"result.co2e_kg"`` reads
    ``payload["result"]["co2e_kg"]`` (a key that itself contains a dot cannot be addressed).
    ``field`` must be a non-empty string of at most 200 characters without an empty part
    (``"a..b"`` and ``".a"`` are refused), else :class:`ValidationError` names ``field``.
    ``FIRST``, ``ALL``, ``MERGE`` and ``CUSTOM`` use whole payloads and ignore it.

Strategies:
    * ``FIRST``: the payload of the first reply to arrive.
    * ``ALL``: the list of every payload, in arrival order.
    * ``MERGE``: a new dict merging the payloads in arrival order: a later reply overrides
      an earlier one key by key, and when both values of a key are dicts they are merged the
      same way, recursively (other values, lists included, are replaced whole). The payloads
      themselves are not modified.
    * ``AVERAGE`` (arithmetic mean), ``MEDIAN`` (:func:`statistics.median`), ``SUM``, ``MIN``
      and ``MAX`` use only the replies whose field is a number: an ``int`` or ``float`` that is
      finite and not a ``bool``. ``SUM`` and ``AVERAGE`` use :func:`math.fsum` (a float
      result); ``MIN`` and ``MAX`` return the value as sent, the earliest one on a tie. The
      other replies are listed in ``skipped`` with a reason such as ``"no field 'value'"`` or
      ``"field 'value' is not a number ('abc')"``.
    * ``MAJORITY_VOTE``: the most common value of the field among the replies that have it.
      Values are compared by canonical JSON (``json.dumps(value, sort_keys=True)``), so lists
      and dicts can be voted on, and ``1``, ``1.0`` and ``true`` are different votes. A tie
      goes to the value that arrived first. ``votes`` maps each canonical JSON to its count.
    * ``CUSTOM``: ``custom(list(replies))`` for a Python callable given by the caller; its
      exceptions propagate unchanged.

Errors:
    An unknown strategy, a malformed ``field``, ``CUSTOM`` without ``custom`` or ``custom``
    with another strategy raise :class:`~orchestration.exceptions.ValidationError`. No
    replies at all, or no usable field for a numeric strategy or a vote, raise
    :class:`AggregationError` naming the strategy, the field and how many replies came.

Every result also carries ``responses`` (replies received), ``used`` (replies that
contributed), ``skipped`` (agent id -> reason) and ``by_agent`` (every payload by agent id;
should an agent reply twice, its later payload is kept).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestration.core.exceptions import AggregationError, ValidationError

__all__ = ["AggregationResult", "AggregationStrategy", "Reply", "aggregate"]

_MAX_FIELD_LENGTH = 200
_MAX_SHOWN = 40


class AggregationStrategy(StrEnum):
    """How the replies of a scatter-gather are reduced to one value."""

    FIRST = "first"
    ALL = "all"
    MAJORITY_VOTE = "majority_vote"
    AVERAGE = "average"
    MEDIAN = "median"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    MERGE = "merge"
    CUSTOM = "custom"


_ORDER_STATISTICS: dict[AggregationStrategy, Callable[[list[Any]], Any]] = {
    AggregationStrategy.MIN: min,
    AggregationStrategy.MAX: max,
    AggregationStrategy.MEDIAN: statistics.median,
}


@dataclass(frozen=True)
class Reply:
    """One agent's reply to a scatter-gather.

    Attributes:
        agent_id: the agent that replied.
        payload: the reply's JSON object.
    """

    agent_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class AggregationResult:
    """The outcome of :func:`aggregate`.

    Attributes:
        strategy: the strategy applied.
        value: the aggregate (a number, a payload, a list of payloads, the voted value...).
        responses: how many replies were received.
        used: how many replies contributed to ``value``.
        skipped: agent id -> why its reply was not used.
        by_agent: every reply's payload, by agent id.
        votes: for ``MAJORITY_VOTE`` only, canonical JSON of each value -> its vote count.
    """

    strategy: AggregationStrategy
    value: Any
    responses: int
    used: int
    skipped: dict[str, str]
    by_agent: dict[str, dict[str, Any]]
    votes: dict[str, int] | None = None


def _invalid(name: str, problem: str, value: object) -> ValidationError:
    return ValidationError(
        f"{name} {problem}, got {_show(value)}", errors=[{"field": name, "problem": problem}]
    )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _strategy(strategy: AggregationStrategy | str) -> AggregationStrategy:
    if isinstance(strategy, AggregationStrategy):
        return strategy
    allowed = ", ".join(s.value for s in AggregationStrategy)
    if isinstance(strategy, str):
        try:
            return AggregationStrategy(strategy.strip().lower())
        except ValueError:
            pass
    raise _invalid("aggregation_strategy", f"must be one of {allowed}", strategy)


def _field_path(field: str) -> tuple[str, ...]:
    if not isinstance(field, str) or not field:
        raise _invalid("field", "must be a non-empty string", field)
    if len(field) > _MAX_FIELD_LENGTH:
        raise _invalid("field", f"must be at most {_MAX_FIELD_LENGTH} characters", field)
    parts = tuple(field.split("."))
    if not all(parts):
        raise _invalid("field", "must not have an empty part between dots", field)
    return parts


def _lookup(payload: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    current: Any = payload
    for part in path:
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


def _not_numeric(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"is not a number ({_show(value)})"
    finite = math.isfinite(value) if isinstance(value, float) else abs(value) < 2**1023
    return None if finite else f"is not a finite number ({_show(value)})"


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            value = _merge(old, value)
        merged[key] = value
    return merged


def _numeric(strategy: AggregationStrategy, values: list[Any], field: str) -> Any:
    if strategy in _ORDER_STATISTICS:
        return _ORDER_STATISTICS[strategy](values)
    try:
        total = math.fsum(values)
    except OverflowError:
        if strategy is AggregationStrategy.SUM:
            raise AggregationError(
                f"cannot aggregate with strategy 'sum': the sum of field '{field}' over "
                f"{len(values)} replies overflows a float"
            ) from None
        return math.fsum(v / len(values) for v in values)
    return total if strategy is AggregationStrategy.SUM else total / len(values)


def _usable(
    strategy: AggregationStrategy,
    replies: Sequence[Reply],
    path: tuple[str, ...],
    field: str,
    skipped: dict[str, str],
) -> list[tuple[str, Any]]:
    """``(canonical JSON, value)`` of each usable field; the others are noted in ``skipped``."""
    usable: list[tuple[str, Any]] = []
    for reply in replies:
        present, value = _lookup(reply.payload, path)
        if not present:
            skipped[reply.agent_id] = f"no field '{field}'"
            continue
        problem = None if strategy is AggregationStrategy.MAJORITY_VOTE else _not_numeric(value)
        key = ""
        if problem is None and strategy is AggregationStrategy.MAJORITY_VOTE:
            try:
                key = json.dumps(value, sort_keys=True)
            except (TypeError, ValueError):
                problem = f"is not JSON ({_show(value)})"
        if problem is None:
            usable.append((key, value))
        else:
            skipped[reply.agent_id] = f"field '{field}' {problem}"
    return usable


def aggregate(
    strategy: AggregationStrategy | str,
    replies: Sequence[Reply],
    *,
    field: str = "value",
    custom: Callable[[list[Reply]], Any] | None = None,
) -> AggregationResult:
    """Reduce scatter-gather replies to one result (see the module docstring for each strategy).

    Args:
        strategy: an :class:`AggregationStrategy` or its value, e.g. ``"average"``.
        replies: the replies, in arrival order.
        field: the payload field the numeric strategies and ``MAJORITY_VOTE`` read; a dotted
            path walks nested objects.
        custom: the reducer for ``CUSTOM``; it receives the list of replies.

    Returns:
        The aggregate, with how many replies were received and used and why any were skipped.

    Raises:
        ValidationError: the strategy is unknown, ``field`` is malformed, or ``custom`` is
            missing for ``CUSTOM`` or given with another strategy.
        AggregationError: there are no replies, or none has a usable field.
    """
    chosen = _strategy(strategy)
    path = _field_path(field)
    if chosen is AggregationStrategy.CUSTOM:
        if not callable(custom):
            raise _invalid("custom", "must be a callable for the 'custom' strategy", custom)
    elif custom is not None:
        raise _invalid(
            "custom", f"is only allowed with the 'custom' strategy, not '{chosen}'", custom
        )
    if not replies:
        raise AggregationError(f"no replies to aggregate (strategy '{chosen}', field '{field}')")

    count = len(replies)
    by_agent = {reply.agent_id: reply.payload for reply in replies}
    payloads = [reply.payload for reply in replies]
    used = count
    skipped: dict[str, str] = {}
    votes: dict[str, int] | None = None
    value: Any
    if chosen is AggregationStrategy.FIRST:
        value, used = payloads[0], 1
    elif chosen is AggregationStrategy.ALL:
        value = payloads
    elif chosen is AggregationStrategy.MERGE:
        value = {}
        for payload in payloads:
            value = _merge(value, payload)
    elif chosen is AggregationStrategy.CUSTOM:
        assert custom is not None
        value = custom(list(replies))
    else:
        usable = _usable(chosen, replies, path, field, skipped)
        if not usable:
            kind = "the" if chosen is AggregationStrategy.MAJORITY_VOTE else "a numeric"
            raise AggregationError(
                f"cannot aggregate with strategy '{chosen}': none of the {count} replies has "
                f"{kind} field '{field}'"
            )
        used = len(usable)
        if chosen is AggregationStrategy.MAJORITY_VOTE:
            votes = dict(Counter(key for key, _ in usable))  # keys in order of first arrival
            winner = max(votes, key=votes.__getitem__)  # max keeps the first of equal counts
            value = next(candidate for key, candidate in usable if key == winner)
        else:
            value = _numeric(chosen, [number for _, number in usable], field)
    return AggregationResult(chosen, value, count, used, skipped, by_agent, votes)
