"""The interpreter of conditions: simpleeval, hardened, with bounded operators and functions.

It runs trees that :mod:`orchestration.core.expressions.checker` let through; the bounds
here are the only places where a condition can make something large.
"""

from __future__ import annotations

import ast
import operator
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

import simpleeval  # type: ignore[import-untyped]

__all__ = [
    "FUNCTIONS",
    "FUNCTION_ARITY",
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_SEQUENCE_LENGTH",
    "MAX_SOURCE_LENGTH",
    "METHODS",
    "NO_NAMES",
    "SCALARS",
    "Evaluator",
    "thread_evaluator",
]

MAX_SOURCE_LENGTH: Final = 1_000
"""Longest condition source, in characters."""
MAX_DEPTH: Final = 32
"""Deepest nesting of the expression tree."""
MAX_SEQUENCE_LENGTH: Final = 10_000
"""Longest string ``+`` or ``*`` may build, and longest list or tuple ``+`` may build."""
MAX_INT_BITS: Final = 4_096
"""Largest integer ``*`` or ``**`` may build, in bits (about 1,233 decimal digits)."""

_SEQUENCES = (str, bytes, list, tuple)
_TEXT = (str, bytes)
SCALARS = (str, int, float, bool, type(None))


# ---------------------------------------------------------------------------------------------
# Bounded operators and functions: the only places where a condition can make something large.


def _add(a: Any, b: Any) -> Any:
    if (
        isinstance(a, _SEQUENCES)
        and isinstance(b, _SEQUENCES)
        and len(a) + len(b) > MAX_SEQUENCE_LENGTH
    ):
        raise simpleeval.IterableTooLong(
            f"'+' would build a sequence longer than {MAX_SEQUENCE_LENGTH:,} items"
        )
    return a + b


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        raise TypeError("repeating lists and tuples with '*' is not allowed")
    if isinstance(a, _TEXT) or isinstance(b, _TEXT):
        text, count = (a, b) if isinstance(a, _TEXT) else (b, a)
        if isinstance(count, int) and len(text) * count > MAX_SEQUENCE_LENGTH:
            raise simpleeval.IterableTooLong(
                f"'*' would build a string longer than {MAX_SEQUENCE_LENGTH:,} characters"
            )
    elif (
        isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS
    ):
        raise simpleeval.NumberTooHigh(f"'*' would build an integer over {MAX_INT_BITS:,} bits")
    return a * b


def _pow(a: Any, b: Any) -> Any:
    if (
        isinstance(a, int)
        and isinstance(b, int)
        and abs(a) > 1
        and b > 0
        and a.bit_length() * b > MAX_INT_BITS
    ):
        raise simpleeval.NumberTooHigh(f"'**' would build an integer over {MAX_INT_BITS:,} bits")
    return a**b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, _TEXT):
        raise TypeError("'%' formatting of strings is not allowed")
    return a % b


def _str(value: object = "") -> str:
    if isinstance(value, SCALARS):
        return str(value)
    raise TypeError(
        f"str() converts strings, numbers, booleans and None, not {type(value).__name__}"
    )


_OPERATORS: Final[dict[type[ast.AST], Callable[..., Any]]] = {
    ast.Add: _add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda x, y: x in y,
    ast.NotIn: lambda x, y: x not in y,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}

FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "str": _str,
    "int": int,
    "float": float,
    "bool": bool,
}
# (fewest, most) positional arguments; None: no upper bound.
FUNCTION_ARITY: Final[dict[str, tuple[int, int | None]]] = {
    "len": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "abs": (1, 1),
    "str": (0, 1),
    "int": (0, 1),
    "float": (0, 1),
    "bool": (0, 1),
}

# method name -> (the receiver type it is looked up on, fewest args, most args)
METHODS: Final[dict[str, tuple[type | tuple[type, ...], int, int]]] = {
    "get": (Mapping, 1, 2),
    "keys": (Mapping, 0, 0),
    "values": (Mapping, 0, 0),
    "items": (Mapping, 0, 0),
    "startswith": (str, 1, 3),
    "endswith": (str, 1, 3),
    "lower": (str, 0, 0),
    "upper": (str, 0, 0),
    "strip": (str, 0, 1),
}


# ---------------------------------------------------------------------------------------------
# The interpreter: simpleeval's node handlers, with the attack surface cut down.


class Evaluator(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval's compound-types interpreter, restricted to what the checker lets through.

    The trees it runs were checked by :func:`_check`, so only allowed nodes, names, functions
    and methods reach it; it still refuses anything else on its own (defence in depth).
    simpleeval's scan of every intermediate result for modules and dangerous functions is
    skipped: names only ever hold context data, functions and methods are allow-listed and
    attributes are never returned, only called. That scan walks whole containers, so it would
    make every mention of ``payload`` cost time in proportion to the payload's size.
    """

    def __init__(self) -> None:
        super().__init__(operators=dict(_OPERATORS), functions={}, names={})
        self.functions = dict(FUNCTIONS)
        self.ATTR_INDEX_FALLBACK = False
        for refused in (
            ast.Assign,
            ast.AugAssign,
            ast.Import,
            ast.Attribute,
            ast.JoinedStr,
            ast.FormattedValue,
            ast.ListComp,
            ast.GeneratorExp,
            ast.DictComp,
        ):
            self.nodes.pop(refused, None)

    def run(self, tree: ast.expr, names: Mapping[str, Any]) -> Any:
        """The value of a checked tree, reading ``names``."""
        self.names = names
        try:
            return self._eval(tree)
        finally:
            self.names = NO_NAMES

    def _eval(self, node: ast.AST) -> Any:
        try:
            handler = self.nodes[type(node)]
        except KeyError:
            raise simpleeval.FeatureNotAvailable(
                f"{type(node).__name__} is not allowed in a condition"
            ) from None
        return handler(node)

    def _eval_name(self, node: ast.Name) -> Any:
        return self.names[node.id]

    @staticmethod
    def _eval_constant(node: ast.Constant) -> Any:
        return node.value

    def _eval_call(self, node: ast.Call) -> Any:
        func = node.func
        if isinstance(func, ast.Attribute):
            receiver = self._eval(func.value)
            receiver_type = METHODS[func.attr][0]
            if not isinstance(receiver, receiver_type):
                raise TypeError(f"{type(receiver).__name__} has no method {func.attr!r} here")
            method = getattr(receiver, func.attr)
            return method(*[self._eval(arg) for arg in node.args])
        if not isinstance(func, ast.Name):
            raise simpleeval.FeatureNotAvailable("only functions and methods can be called")
        return self.functions[func.id](*[self._eval(arg) for arg in node.args])


NO_NAMES: Final[Mapping[str, Any]] = {}
_local = threading.local()


def thread_evaluator() -> Evaluator:
    # One interpreter per thread: it keeps the names of the evaluation in progress.
    try:
        evaluator: Evaluator = _local.evaluator
    except AttributeError:
        evaluator = _local.evaluator = Evaluator()
    return evaluator


# ---------------------------------------------------------------------------------------------
# The checker: every refusal happens here, when the rule is added.
