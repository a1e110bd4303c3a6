"""The checker of conditions: every refusal happens here, once, when a rule is added."""

from __future__ import annotations

import ast
import warnings
from collections.abc import Collection
from typing import Final, NoReturn

from orchestration.core.expressions.interpreter import (
    FUNCTION_ARITY,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_SOURCE_LENGTH,
    METHODS,
    NO_NAMES,
    SCALARS,
    Evaluator,
)

__all__ = [
    "Checker",
    "Refused",
    "check_allowed_names",
    "describe_error",
    "fold",
    "parse",
    "preview",
    "refuse",
]


class Refused(Exception):
    """Why a condition is refused (becomes the ConditionError's message)."""


_PLAIN_NODES: Final = frozenset(
    {
        ast.BoolOp,
        ast.BinOp,
        ast.UnaryOp,
        ast.Compare,
        ast.IfExp,
        ast.Subscript,
        ast.Slice,
        ast.List,
        ast.Tuple,
        ast.Set,
        ast.Dict,
    }
)
_REFUSED_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.JoinedStr: "f-strings are not allowed (use + and str())",
    ast.FormattedValue: "f-strings are not allowed (use + and str())",
    ast.Starred: "unpacking with * is not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}
_BINARY_OPERATORS: Final = frozenset(
    {ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow}
)
_UNARY_OPERATORS: Final = frozenset({ast.Not, ast.USub, ast.UAdd})
_OPERATOR_SYMBOLS: Final[dict[type[ast.AST], str]] = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
}
_METHOD_LIST: Final = ", ".join(f".{name}" for name in METHODS)
_FUNCTION_LIST: Final = ", ".join(FUNCTIONS)


def refuse(reason: str) -> NoReturn:
    raise Refused(reason)


class Checker:
    """Walks a parsed expression, refusing what the language does not allow.

    Collects the context names the expression reads.
    """

    def __init__(self, allowed_names: frozenset[str]) -> None:
        self.allowed_names = allowed_names
        self.names: set[str] = set()

    def check(self, node: ast.AST, depth: int = 1) -> None:
        if depth > MAX_DEPTH:
            refuse(f"it is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Name):
            self._check_name(node)
            return
        if isinstance(node, ast.Constant):
            self._check_constant(node)
            return
        if isinstance(node, ast.Call):
            self._check_call(node, depth)
            return
        if isinstance(node, ast.Attribute):
            self._check_attribute_read(node)
        kind = type(node)
        if kind in _REFUSED_NODES:
            refuse(_REFUSED_NODES[kind])
        if kind not in _PLAIN_NODES:
            refuse(f"{kind.__name__} expressions are not allowed")
        if isinstance(node, ast.BinOp):
            self._check_binary(node)
        elif isinstance(node, ast.UnaryOp) and type(node.op) not in _UNARY_OPERATORS:
            refuse(f"the operator {_OPERATOR_SYMBOLS.get(type(node.op), '?')} is not allowed")
        elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            refuse("unpacking with ** is not allowed")
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.check(child, depth + 1)

    def _check_name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("_"):
            refuse(f"the name {name!r} is not allowed: nothing starting with '_' is reachable")
        if name in FUNCTIONS:
            refuse(f"the function {name!r} can only be called, as {name}(...)")
        if name not in self.allowed_names:
            refuse(
                f"unknown name {name!r}: a condition reads only "
                f"{', '.join(sorted(self.allowed_names))} and calls only {_FUNCTION_LIST}"
            )
        self.names.add(name)

    @staticmethod
    def _check_constant(node: ast.Constant) -> None:
        if not isinstance(node.value, SCALARS):
            refuse(f"{type(node.value).__name__} literals are not allowed")

    @staticmethod
    def _check_attribute_read(node: ast.Attribute) -> NoReturn:
        attr = node.attr
        if attr.startswith("_"):
            refuse(f"the attribute {attr!r} is not allowed: nothing starting with '_' is reachable")
        refuse(
            f"reading the attribute .{attr} is not allowed (for a key write "
            f"[{attr!r}] or .get({attr!r})); only these methods can be called: {_METHOD_LIST}"
        )

    def _check_binary(self, node: ast.BinOp) -> None:
        kind = type(node.op)
        if kind not in _BINARY_OPERATORS:
            refuse(f"the operator {_OPERATOR_SYMBOLS.get(kind, kind.__name__)} is not allowed")
        if (
            kind is ast.Mod
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
        ):
            refuse("'%' formatting of strings is not allowed")

    def _check_call(self, node: ast.Call, depth: int) -> None:
        if node.keywords:
            refuse("keyword arguments are not allowed")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            refuse("unpacking with * is not allowed")
        func = node.func
        given = len(node.args)
        if isinstance(func, ast.Name):
            if func.id.startswith("_"):
                refuse(
                    f"the name {func.id!r} is not allowed: nothing starting with '_' is reachable"
                )
            if func.id not in FUNCTIONS:
                refuse(f"{func.id}() cannot be called: the functions are {_FUNCTION_LIST}")
            fewest, most = FUNCTION_ARITY[func.id]
            label = f"{func.id}()"
        elif isinstance(func, ast.Attribute):
            if func.attr.startswith("_"):
                refuse(
                    f"the attribute {func.attr!r} is not allowed: "
                    "nothing starting with '_' is reachable"
                )
            if func.attr not in METHODS:
                refuse(f"the method .{func.attr}() is not allowed; the methods are {_METHOD_LIST}")
            _, fewest, most = METHODS[func.attr]
            label = f".{func.attr}()"
            self.check(func.value, depth + 1)
        else:
            refuse(f"only the functions {_FUNCTION_LIST} and methods {_METHOD_LIST} can be called")
        if given < fewest or (most is not None and given > most):
            if most is None:
                expected = f"at least {fewest}"
            else:
                expected = str(fewest) if fewest == most else f"{fewest} to {most}"
            noun = "argument" if expected == "1" else "arguments"
            refuse(f"{label} takes {expected} {noun} ({given} given)")
        for arg in node.args:
            self.check(arg, depth + 1)


def _reads_context(node: ast.AST) -> bool:
    called = {id(call.func) for call in ast.walk(node) if isinstance(call, ast.Call)}
    return any(isinstance(n, ast.Name) and id(n) not in called for n in ast.walk(node))


def _is_plain_value(value: object) -> bool:
    if isinstance(value, tuple):
        return all(isinstance(item, SCALARS) for item in value)
    return isinstance(value, SCALARS)


def fold(node: ast.expr, evaluator: Evaluator) -> ast.expr:
    """Compute each part that reads no context once, now: refuse it if it fails or overflows.

    Parts that come out as scalars (or tuples of scalars) are kept as constants.
    """
    if isinstance(node, ast.Constant):
        return node
    if not _reads_context(node):
        try:
            value = evaluator.run(node, NO_NAMES)
        except Exception as exc:  # any failure of a constant part is a broken rule
            refuse(f"{preview(ast.unparse(node))} always fails: {describe_error(exc)}")
        if _is_plain_value(value):
            return ast.copy_location(ast.Constant(value=value), node)
        return node
    if isinstance(node, ast.Call):
        # The function name itself is not a value; the method's receiver and the args are.
        if isinstance(node.func, ast.Attribute):
            node.func.value = fold(node.func.value, evaluator)
        node.args = [fold(arg, evaluator) for arg in node.args]
        return node
    for field, old in ast.iter_fields(node):
        if isinstance(old, ast.expr):
            setattr(node, field, fold(old, evaluator))
        elif isinstance(old, list):
            setattr(
                node,
                field,
                [fold(item, evaluator) if isinstance(item, ast.expr) else item for item in old],
            )
    return node


def preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _statement_reason(text: str) -> str | None:
    """Why ``text`` is not one expression, when it parses as statements."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for statement in module.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            return "imports are not allowed"
        if isinstance(statement, ast.Assign | ast.AugAssign | ast.AnnAssign):
            return "assignments are not allowed"
    return "a condition is one expression, not statements"


def parse(source: object) -> ast.expr:
    if not isinstance(source, str):
        refuse(f"a condition is a string, not {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        refuse(f"it is {len(source):,} characters long; the limit is {MAX_SOURCE_LENGTH:,}")
    text = source.strip()
    if not text:
        refuse("it is empty")
    try:
        # Parsing can warn (invalid escapes, 'is' with a literal): a refusal says enough.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        reason = _statement_reason(text)
        if reason is None:
            where = f" at column {exc.offset}" if exc.offset else ""
            reason = f"it is not a valid expression ({exc.msg}{where})"
        refuse(reason)
    except (ValueError, RecursionError, MemoryError) as exc:
        refuse(f"it cannot be parsed ({describe_error(exc)})")


def check_allowed_names(allowed_names: Collection[str]) -> frozenset[str]:
    names = frozenset(allowed_names)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"allowed name {name!r} must be an identifier not starting with '_'")
        if name in FUNCTIONS:
            raise ValueError(f"allowed name {name!r} would hide the function {name}()")
    return names
