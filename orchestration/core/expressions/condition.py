"""``Condition``: a checked, compiled condition; ``compile_condition`` builds one."""

from __future__ import annotations

import ast
import logging
import threading
from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any, Final, NoReturn

from orchestration.core.exceptions import ConditionError
from orchestration.core.expressions.checker import (
    Checker,
    Refused,
    check_allowed_names,
    describe_error,
    fold,
    parse,
    preview,
)
from orchestration.core.expressions.interpreter import thread_evaluator

__all__ = ["Condition", "compile_condition"]

log = logging.getLogger(__name__)

_FAILURES_LOCK: Final = threading.Lock()


class _Failures:
    """Evaluation failures of one condition: counted, and logged the first time."""

    __slots__ = ("count", "last")

    def __init__(self) -> None:
        self.count = 0
        self.last: str | None = None


_INDEXABLE = (str, int, float, bool, type(None))


def _lookup_of(node: ast.expr) -> tuple[str, str] | None:
    """``(name, key)`` for ``name.get('key')`` or ``name['key']``, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Name)
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.func.value.id, node.args[0].value
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.value.id, node.slice.value
    return None


def _equality_test(tree: ast.expr) -> tuple[str, str, Hashable] | None:
    """See :attr:`Condition.equality`."""
    if not (
        isinstance(tree, ast.Compare) and len(tree.ops) == 1 and isinstance(tree.ops[0], ast.Eq)
    ):
        return None
    for lookup_side, constant_side in (
        (tree.left, tree.comparators[0]),
        (tree.comparators[0], tree.left),
    ):
        lookup = _lookup_of(lookup_side)
        if (
            lookup is not None
            and isinstance(constant_side, ast.Constant)
            and isinstance(constant_side.value, _INDEXABLE)
        ):
            return lookup[0], lookup[1], constant_side.value
    return None


class Condition:
    """A checked, compiled rule condition. Immutable; equal (and pickled) by its source.

    Build one with :func:`compile_condition` (or ``Condition(source)``); the module docstring
    describes the language.

    Attributes:
        source: the condition as written (rules are stored by source).
        names: the context names it reads, e.g. ``frozenset({'payload'})``.
        allowed_names: the names it was checked against.
        error_count: how many evaluations failed (and so returned False).
        last_error: the latest evaluation failure, as ``"KeyError: 'amount'"``, or None.
    """

    __slots__ = ("_allowed", "_equality", "_failures", "_names", "_source", "_tree")

    _source: str
    _equality: tuple[str, str, Hashable] | None
    _names: frozenset[str]
    _allowed: frozenset[str]
    _tree: ast.expr
    _failures: _Failures

    def __init__(self, source: str, *, allowed_names: Collection[str]) -> None:
        """Check and compile ``source``.

        Raises:
            ConditionError: the condition is refused; the message says why.
            ValueError: ``allowed_names`` holds something that cannot be a name.
        """
        allowed = check_allowed_names(allowed_names)
        try:
            tree = parse(source)
            checker = Checker(allowed)
            checker.check(tree)
            tree = fold(tree, thread_evaluator())
        except Refused as refused:
            shown = preview(source) if isinstance(source, str) else repr(type(source).__name__)
            message = f"condition {shown} refused: {refused}"
            raise ConditionError(
                message, errors=[{"field": "condition", "problem": str(refused)}]
            ) from None
        for name, value in (
            ("_source", source),
            ("_names", frozenset(checker.names)),
            ("_allowed", allowed),
            ("_tree", tree),
            ("_failures", _Failures()),
            ("_equality", _equality_test(tree)),
        ):
            object.__setattr__(self, name, value)

    @property
    def source(self) -> str:
        return self._source

    @property
    def names(self) -> frozenset[str]:
        return self._names

    @property
    def allowed_names(self) -> frozenset[str]:
        return self._allowed

    @property
    def equality(self) -> tuple[str, str, Hashable] | None:
        """``(name, key, value)`` when the whole condition is ``name.get(key) == value`` or
        ``name[key] == value`` with a constant ``value`` (either side), else None.

        Such a condition holds exactly when ``context[name].get(key) == value``, so a router
        can index rules by ``(key, value)`` and find the matching ones with a dict lookup.
        """
        return self._equality

    @property
    def error_count(self) -> int:
        return self._failures.count

    @property
    def last_error(self) -> str | None:
        return self._failures.last

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``context`` (the truthiness of its value).

        Never raises: an error while evaluating (a missing key, a type mismatch, a run-time
        bound) makes the result False; it is counted on ``error_count`` and logged once per
        condition, at WARNING on the ``orchestration.core.expressions.condition`` logger.
        """
        try:
            return bool(thread_evaluator().run(self._tree, context))
        except Exception as exc:  # a rule must never break the router; see the docstring
            self._failed(exc)
            return False

    def _failed(self, exc: Exception) -> None:
        failures = self._failures
        described = describe_error(exc)
        with _FAILURES_LOCK:  # failures are rare: one lock for all conditions is enough
            failures.count += 1
            failures.last = described
            first = failures.count == 1
        if first:
            log.warning(
                "condition %r failed (%s) and counts as False; later failures of this "
                "condition are counted, not logged",
                self._source,
                described,
            )

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Condition is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Condition is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Condition):
            return NotImplemented
        return self._source == other._source

    def __hash__(self) -> int:
        return hash((Condition, self._source))

    def __reduce__(self) -> tuple[Callable[..., Condition], tuple[Any, ...]]:
        # Only the source and the vocabulary travel: unpickling checks and compiles again.
        return (_recompile, (self._source, tuple(sorted(self._allowed))))

    def __repr__(self) -> str:
        return f"Condition({self._source!r})"

    def __str__(self) -> str:
        return self._source


def compile_condition(source: str, *, allowed_names: Collection[str]) -> Condition:
    """Check and compile a condition, once, when its rule is added.

    Args:
        source: one expression in the language of :mod:`orchestration.core.expressions`, e.g.
            ``"payload['amount'] > 1000 and sender_id.startswith('agent-')"``.
        allowed_names: the context names it may read (for routing rules
            :data:`bus.message.MESSAGE_NAMES`, for pipelines their inputs and steps).

    Raises:
        ConditionError: the condition is refused; the message says why.
        ValueError: ``allowed_names`` holds something that cannot be a name.
    """
    return Condition(source, allowed_names=allowed_names)


def _recompile(source: str, allowed_names: tuple[str, ...]) -> Condition:
    return Condition(source, allowed_names=allowed_names)
