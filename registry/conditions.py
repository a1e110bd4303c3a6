"""Safe rule conditions: small Python-like expressions, checked and compiled once, never eval'd.

A route rule (and, later, a pipeline step) carries a condition such as
``payload.get('task') == 'calculate'``. :func:`compile_condition` checks it against an
allow-list when the rule is added and raises :class:`~orchestration.exceptions.RoutingError`
saying why when it is refused; :meth:`Condition.evaluate` then runs the kept tree with the
`simpleeval <https://pypi.org/project/simpleeval/>`_ interpreter, hardened here, for a few
microseconds per call (``bench/conditions.py`` measures it against CEL implementations).
Nothing is ever passed to ``eval``, ``exec`` or ``compile``.

The language (one Python expression, at most :data:`MAX_SOURCE_LENGTH` characters, nested at
most :data:`MAX_DEPTH` levels; ``a + b + c`` nests one level per ``+``):

- **Names**: the context names the caller allows; for messages :data:`MESSAGE_NAMES`
  (``payload``, ``sender_id``, ``recipient_id``, ``message_type``, ``priority``, ``headers``,
  ``correlation_id``, ``metadata``). Nothing starting with ``_`` is reachable, ever.
- **Literals**: strings, numbers, ``True``/``False``/``None``, and list, tuple, set and dict
  displays of expressions (``message_type in ('request', 'event')``).
- **Operators**: ``and or not``, ``== != < <= > >= in not in is is not``, ``+ - * / // % **``,
  unary ``- +``, ``x if c else y``, subscripts and slices (``payload['amount']``,
  ``sender_id[:6]``).
- **Functions**: ``len min max abs str int float bool`` (``str`` converts only strings,
  numbers, booleans and ``None``). Positional arguments only.
- **Methods**, called directly and only on the right type: on mappings ``.get .keys .values
  .items``; on strings ``.startswith .endswith .lower .upper .strip``. Attributes can only be
  called, never read (``payload.task`` is refused: write ``payload['task']``).

Refused when the rule is added: statements and imports, other names (``open``, ``getattr``,
``globals``, ``__import__``...), any ``_name`` or ``.__attr__``, other methods (``.format``,
``.pop``...), keyword arguments and ``*``/``**`` unpacking, lambda, comprehensions, ``:=``,
f-strings, ``%``-formatting of string literals, bitwise and shift operators, and any part
without names that fails or overflows (``9**9**9``, ``'a' * 10**10``, ``1/0``): such parts are
computed once at compile time, with the same bounds as at run time.

Bounded at run time, where the operands come from the message: a string built by ``+`` or
``*`` stays under :data:`MAX_SEQUENCE_LENGTH` characters, an integer built by ``*`` or ``**``
under :data:`MAX_INT_BITS` bits, lists and tuples are never repeated and strings are never
``%``-formatted. Going past a bound is an evaluation error like any other: the condition is
False, the error is counted on the condition and logged once.
"""

from __future__ import annotations

import ast
import logging
import operator
import threading
import warnings
from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any, Final, NoReturn

import simpleeval  # type: ignore[import-untyped]

from orchestration.exceptions import RoutingError

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_SEQUENCE_LENGTH",
    "MAX_SOURCE_LENGTH",
    "MESSAGE_NAMES",
    "Condition",
    "compile_condition",
]

log = logging.getLogger(__name__)

MESSAGE_NAMES: Final = frozenset(
    {
        "payload",
        "sender_id",
        "recipient_id",
        "message_type",
        "priority",
        "headers",
        "correlation_id",
        "metadata",
    }
)
"""The names a message-routing condition can read: the fields of a bus ``Message``."""

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
_SCALARS = (str, int, float, bool, type(None))


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
    if isinstance(value, _SCALARS):
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

_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
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
_FUNCTION_ARITY: Final[dict[str, tuple[int, int | None]]] = {
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
_METHODS: Final[dict[str, tuple[type | tuple[type, ...], int, int]]] = {
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


class _Evaluator(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc]
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
        self.functions = dict(_FUNCTIONS)
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
            self.names = _NO_NAMES

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
            receiver_type = _METHODS[func.attr][0]
            if not isinstance(receiver, receiver_type):
                raise TypeError(f"{type(receiver).__name__} has no method {func.attr!r} here")
            method = getattr(receiver, func.attr)
            return method(*[self._eval(arg) for arg in node.args])
        if not isinstance(func, ast.Name):
            raise simpleeval.FeatureNotAvailable("only functions and methods can be called")
        return self.functions[func.id](*[self._eval(arg) for arg in node.args])


_NO_NAMES: Final[Mapping[str, Any]] = {}
_local = threading.local()


def _evaluator() -> _Evaluator:
    # One interpreter per thread: it keeps the names of the evaluation in progress.
    try:
        evaluator: _Evaluator = _local.evaluator
    except AttributeError:
        evaluator = _local.evaluator = _Evaluator()
    return evaluator


# ---------------------------------------------------------------------------------------------
# The checker: every refusal happens here, when the rule is added.


class _Refused(Exception):
    """Why a condition is refused (becomes the RoutingError's message)."""


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
_METHOD_LIST: Final = ", ".join(f".{name}" for name in _METHODS)
_FUNCTION_LIST: Final = ", ".join(_FUNCTIONS)


def _refuse(reason: str) -> NoReturn:
    raise _Refused(reason)


class _Checker:
    """Walks a parsed expression, refusing what the language does not allow.

    Collects the context names the expression reads.
    """

    def __init__(self, allowed_names: frozenset[str]) -> None:
        self.allowed_names = allowed_names
        self.names: set[str] = set()

    def check(self, node: ast.AST, depth: int = 1) -> None:
        if depth > MAX_DEPTH:
            _refuse(f"it is nested more than {MAX_DEPTH} levels deep")
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
            _refuse(_REFUSED_NODES[kind])
        if kind not in _PLAIN_NODES:
            _refuse(f"{kind.__name__} expressions are not allowed")
        if isinstance(node, ast.BinOp):
            self._check_binary(node)
        elif isinstance(node, ast.UnaryOp) and type(node.op) not in _UNARY_OPERATORS:
            _refuse(f"the operator {_OPERATOR_SYMBOLS.get(type(node.op), '?')} is not allowed")
        elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            _refuse("unpacking with ** is not allowed")
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.check(child, depth + 1)

    def _check_name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("_"):
            _refuse(f"the name {name!r} is not allowed: nothing starting with '_' is reachable")
        if name in _FUNCTIONS:
            _refuse(f"the function {name!r} can only be called, as {name}(...)")
        if name not in self.allowed_names:
            _refuse(
                f"unknown name {name!r}: a condition reads only "
                f"{', '.join(sorted(self.allowed_names))} and calls only {_FUNCTION_LIST}"
            )
        self.names.add(name)

    @staticmethod
    def _check_constant(node: ast.Constant) -> None:
        if not isinstance(node.value, _SCALARS):
            _refuse(f"{type(node.value).__name__} literals are not allowed")

    @staticmethod
    def _check_attribute_read(node: ast.Attribute) -> NoReturn:
        attr = node.attr
        if attr.startswith("_"):
            _refuse(
                f"the attribute {attr!r} is not allowed: nothing starting with '_' is reachable"
            )
        _refuse(
            f"reading the attribute .{attr} is not allowed (for a key write "
            f"[{attr!r}] or .get({attr!r})); only these methods can be called: {_METHOD_LIST}"
        )

    def _check_binary(self, node: ast.BinOp) -> None:
        kind = type(node.op)
        if kind not in _BINARY_OPERATORS:
            _refuse(f"the operator {_OPERATOR_SYMBOLS.get(kind, kind.__name__)} is not allowed")
        if (
            kind is ast.Mod
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
        ):
            _refuse("'%' formatting of strings is not allowed")

    def _check_call(self, node: ast.Call, depth: int) -> None:
        if node.keywords:
            _refuse("keyword arguments are not allowed")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            _refuse("unpacking with * is not allowed")
        func = node.func
        given = len(node.args)
        if isinstance(func, ast.Name):
            if func.id.startswith("_"):
                _refuse(
                    f"the name {func.id!r} is not allowed: nothing starting with '_' is reachable"
                )
            if func.id not in _FUNCTIONS:
                _refuse(f"{func.id}() cannot be called: the functions are {_FUNCTION_LIST}")
            fewest, most = _FUNCTION_ARITY[func.id]
            label = f"{func.id}()"
        elif isinstance(func, ast.Attribute):
            if func.attr.startswith("_"):
                _refuse(
                    f"the attribute {func.attr!r} is not allowed: "
                    "nothing starting with '_' is reachable"
                )
            if func.attr not in _METHODS:
                _refuse(f"the method .{func.attr}() is not allowed; the methods are {_METHOD_LIST}")
            _, fewest, most = _METHODS[func.attr]
            label = f".{func.attr}()"
            self.check(func.value, depth + 1)
        else:
            _refuse(f"only the functions {_FUNCTION_LIST} and methods {_METHOD_LIST} can be called")
        if given < fewest or (most is not None and given > most):
            if most is None:
                expected = f"at least {fewest}"
            else:
                expected = str(fewest) if fewest == most else f"{fewest} to {most}"
            noun = "argument" if expected == "1" else "arguments"
            _refuse(f"{label} takes {expected} {noun} ({given} given)")
        for arg in node.args:
            self.check(arg, depth + 1)


def _reads_context(node: ast.AST) -> bool:
    called = {id(call.func) for call in ast.walk(node) if isinstance(call, ast.Call)}
    return any(isinstance(n, ast.Name) and id(n) not in called for n in ast.walk(node))


def _is_plain_value(value: object) -> bool:
    if isinstance(value, tuple):
        return all(isinstance(item, _SCALARS) for item in value)
    return isinstance(value, _SCALARS)


def _fold(node: ast.expr, evaluator: _Evaluator) -> ast.expr:
    """Compute each part that reads no context once, now: refuse it if it fails or overflows.

    Parts that come out as scalars (or tuples of scalars) are kept as constants.
    """
    if isinstance(node, ast.Constant):
        return node
    if not _reads_context(node):
        try:
            value = evaluator.run(node, _NO_NAMES)
        except Exception as exc:  # any failure of a constant part is a broken rule
            _refuse(f"{_preview(ast.unparse(node))} always fails: {_describe(exc)}")
        if _is_plain_value(value):
            return ast.copy_location(ast.Constant(value=value), node)
        return node
    if isinstance(node, ast.Call):
        # The function name itself is not a value; the method's receiver and the args are.
        if isinstance(node.func, ast.Attribute):
            node.func.value = _fold(node.func.value, evaluator)
        node.args = [_fold(arg, evaluator) for arg in node.args]
        return node
    for field, old in ast.iter_fields(node):
        if isinstance(old, ast.expr):
            setattr(node, field, _fold(old, evaluator))
        elif isinstance(old, list):
            setattr(
                node,
                field,
                [_fold(item, evaluator) if isinstance(item, ast.expr) else item for item in old],
            )
    return node


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _describe(exc: BaseException) -> str:
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


def _parse(source: object) -> ast.expr:
    if not isinstance(source, str):
        _refuse(f"a condition is a string, not {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        _refuse(f"it is {len(source):,} characters long; the limit is {MAX_SOURCE_LENGTH:,}")
    text = source.strip()
    if not text:
        _refuse("it is empty")
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
        _refuse(reason)
    except (ValueError, RecursionError, MemoryError) as exc:
        _refuse(f"it cannot be parsed ({_describe(exc)})")


def _check_allowed_names(allowed_names: Collection[str]) -> frozenset[str]:
    names = frozenset(allowed_names)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"allowed name {name!r} must be an identifier not starting with '_'")
        if name in _FUNCTIONS:
            raise ValueError(f"allowed name {name!r} would hide the function {name}()")
    return names


# ---------------------------------------------------------------------------------------------
# The public face.


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

    def __init__(self, source: str, *, allowed_names: Collection[str] = MESSAGE_NAMES) -> None:
        """Check and compile ``source``.

        Raises:
            RoutingError: the condition is refused; the message says why.
            ValueError: ``allowed_names`` holds something that cannot be a name.
        """
        allowed = _check_allowed_names(allowed_names)
        try:
            tree = _parse(source)
            checker = _Checker(allowed)
            checker.check(tree)
            tree = _fold(tree, _evaluator())
        except _Refused as refused:
            shown = _preview(source) if isinstance(source, str) else repr(type(source).__name__)
            raise RoutingError(f"condition {shown} refused: {refused}") from None
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
        condition, at WARNING on the ``registry.conditions`` logger.
        """
        try:
            return bool(_evaluator().run(self._tree, context))
        except Exception as exc:  # a rule must never break the router; see the docstring
            self._failed(exc)
            return False

    def _failed(self, exc: Exception) -> None:
        failures = self._failures
        described = _describe(exc)
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
        # Only the source travels (the vocabulary too when it is not the message one):
        # unpickling checks and compiles it again.
        if self._allowed == MESSAGE_NAMES:
            return (compile_condition, (self._source,))
        return (_recompile, (self._source, tuple(sorted(self._allowed))))

    def __repr__(self) -> str:
        return f"Condition({self._source!r})"

    def __str__(self) -> str:
        return self._source


def compile_condition(source: str, *, allowed_names: Collection[str] = MESSAGE_NAMES) -> Condition:
    """Check and compile a condition, once, when its rule is added.

    Args:
        source: one expression in the language of this module's docstring, e.g.
            ``"payload['amount'] > 1000 and sender_id.startswith('agent-')"``.
        allowed_names: the context names it may read; :data:`MESSAGE_NAMES` for routing rules.

    Raises:
        RoutingError: the condition is refused; the message says why.
        ValueError: ``allowed_names`` holds something that cannot be a name.
    """
    return Condition(source, allowed_names=allowed_names)


def _recompile(source: str, allowed_names: tuple[str, ...]) -> Condition:
    return Condition(source, allowed_names=allowed_names)
