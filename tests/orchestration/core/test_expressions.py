from __future__ import annotations

import copy
import logging
import pickle
import string
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.message import MESSAGE_NAMES
from orchestration.core.exceptions import RoutingError
from orchestration.core.expressions import (
    MAX_DEPTH,
    MAX_SEQUENCE_LENGTH,
    MAX_SOURCE_LENGTH,
    Condition,
    compile_condition,
)
from tests.reliability.figures import Figures


def route_condition(source: str) -> Condition:
    """A condition in the vocabulary of route rules (the bus message's fields)."""
    return compile_condition(source, allowed_names=MESSAGE_NAMES)


def message(**payload: Any) -> dict[str, Any]:
    """A routing context shaped like a bus message, with ``payload`` as given."""
    return {
        "payload": payload,
        "sender_id": "agent-collector-7",
        "recipient_id": "agent-calculator-1",
        "message_type": "request",
        "priority": 1,
        "headers": {"trace": "abc123"},
        "correlation_id": "c-42",
        "metadata": {"region": "EU"},
    }


# ---------------------------------------------------------------------------------------------
# The seed conditions and the rest of the language.


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ("payload.get('task') == 'calculate'", message(task="calculate"), True),
        ("payload.get('task') == 'calculate'", message(task="report"), False),
        ("payload.get('task') == 'calculate'", message(), False),
        (
            "payload['amount'] > 1000 and sender_id.startswith('agent-')",
            message(amount=1500),
            True,
        ),
        (
            "payload['amount'] > 1000 and sender_id.startswith('agent-')",
            message(amount=999),
            False,
        ),
        (
            "payload['amount'] > 1000 and sender_id.startswith('agent-')",
            {**message(amount=1500), "sender_id": "human-1"},
            False,
        ),
        ("priority <= 1", message(), True),
        ("priority <= 1", {**message(), "priority": 3}, False),
        ("'scope3' in payload.get('tags', [])", message(tags=["scope1", "scope3"]), True),
        ("'scope3' in payload.get('tags', [])", message(tags=["scope1"]), False),
        ("'scope3' in payload.get('tags', [])", message(), False),
    ],
)
def test_seed_conditions_evaluate_as_python_would(
    source: str, context: dict[str, Any], expected: bool
) -> None:
    assert route_condition(source).evaluate(context) is expected


@pytest.mark.parametrize(
    "source",
    [
        "message_type in ('request', 'event')",
        "message_type not in ['event']",
        "sender_id[:6] == 'agent-' and sender_id[-1] == '7'",
        "len(payload['tags']) >= 2",
        "min(payload['readings']) > 0 and max(payload['readings']) < 100",
        "abs(payload['delta']) < 0.5",
        "int(payload['count']) + float('1.5') == 4.5",
        "str(priority) == '1' and bool(payload['tags'])",
        "'tags' in payload.keys() and 'calculate' in payload.values()",
        "('region', 'EU') in metadata.items()",
        "headers.get('trace', '').upper().lower().strip() == 'abc123'",
        "recipient_id.endswith('-1') and correlation_id is not None",
        "payload['amount'] / 2 // 1 % 7 - 1 ** 2 == 7.0 - 8",
        "not payload.get('missing') and -priority < +1",
        "'high' if priority <= 1 else 'low'",
        "payload.get('task', 'calc' + 'ulate') == 'calculate'",
        "{'a': 1}.get('a') == 1 and 2 in {1, 2}",
        "'-' * 3 == '---' and True",
        "1 <= priority < 2",
    ],
)
def test_the_allowed_language_evaluates(source: str) -> None:
    context = message(tags=["scope1", "scope3"], readings=[3, 7], delta=-0.25, count="3")
    context["payload"]["amount"] = 15
    context["payload"]["task"] = "calculate"
    condition = route_condition(source)
    assert condition.evaluate(context) is True
    assert condition.error_count == 0


def test_names_are_the_context_names_the_condition_reads() -> None:
    condition = route_condition("payload['amount'] > 1000 and sender_id.startswith('agent-')")
    assert condition.names == frozenset({"payload", "sender_id"})
    assert route_condition("len('abc') == 3").names == frozenset()


def test_parts_without_names_are_computed_when_the_rule_is_added() -> None:
    condition = route_condition("priority == 2 ** 3 - 7 and 'ab' * 2 == 'abab'")
    assert condition.evaluate(message()) is True
    assert route_condition("True").evaluate({}) is True


def test_pipeline_conditions_read_their_own_names() -> None:
    condition = compile_condition("inputs['rows'] > 0", allowed_names={"inputs", "steps"})
    assert condition.names == frozenset({"inputs"})
    assert condition.evaluate({"inputs": {"rows": 3}, "steps": {}}) is True
    with pytest.raises(RoutingError, match="unknown name 'payload'"):
        compile_condition("payload == 1", allowed_names={"inputs"})


@pytest.mark.parametrize("bad", [["not a name"], ["_private"], ["len"], [1]])
def test_allowed_names_must_be_plain_identifiers(bad: list[Any]) -> None:
    with pytest.raises(ValueError, match="allowed name"):
        compile_condition("True", allowed_names=bad)


# ---------------------------------------------------------------------------------------------
# Refused when the rule is added.

ESCAPES = [
    # dunder walks
    ("payload.__class__", "'_' is reachable"),
    ("().__class__.__bases__", "'_' is reachable"),
    ("().__class__.__bases__[0].__subclasses__()", "'_' is reachable"),
    ("[].__class__.__base__.__subclasses__()", "'_' is reachable"),
    ("payload.get.__self__", "'_' is reachable"),
    ("sender_id.startswith.__globals__", "'_' is reachable"),
    ("sender_id.startswith.__call__('a')", "'_' is reachable"),
    ("payload.__getitem__('task')", "'_' is reachable"),
    ("str(priority).__class__.__mro__", "'_' is reachable"),
    ("payload.get('task', 1).__len__()", "'_' is reachable"),
    ("int.__subclasses__()", "'_' is reachable"),
    # imports and builtins
    ("__import__('os')", "'_' is reachable"),
    ("__import__('os').system('id')", "is not allowed"),
    ("__builtins__", "'_' is reachable"),
    ("import os", "imports are not allowed"),
    ("from os import system", "imports are not allowed"),
    ("getattr(payload, '__class__')", "getattr() cannot be called"),
    ("globals()", "globals() cannot be called"),
    ("locals()['payload']", "locals() cannot be called"),
    ("vars(payload)", "vars() cannot be called"),
    ("open('/etc/passwd').read()", "the method .read() is not allowed"),
    ("open('/etc/passwd')", "open() cannot be called"),
    ("eval('1')", "eval() cannot be called"),
    ("exec('x = 1')", "exec() cannot be called"),
    ("compile('1', '', 'eval')", "compile() cannot be called"),
    ("type(payload)", "type() cannot be called"),
    ("breakpoint()", "breakpoint() cannot be called"),
    ("os", "unknown name 'os'"),
    ("globals", "unknown name 'globals'"),
    ("len", "can only be called"),
    ("str.mro()", "the method .mro() is not allowed"),
    # format-string tricks
    ("'{0.__class__}'.format(payload)", "the method .format() is not allowed"),
    ("'{0.__globals__}'.format_map(payload)", "the method .format_map() is not allowed"),
    ("'%999999999d' % 1", "'%' formatting"),
    ("'%(task)s' % payload", "'%' formatting"),
    ("f'{payload.__class__}'", "f-strings are not allowed"),
    ("f'{payload}' == 'x'", "f-strings are not allowed"),
    # resource exhaustion
    ("9**9**9", "always fails"),
    ("'a'*10**10", "always fails"),
    ("[1] * 10**9", "repeating lists"),
    ("10**10**10 > priority", "always fails"),
    ("1 << 10**6", "the operator << is not allowed"),
    ("[" * 1_000 + "]" * 1_000, "characters long"),
    ("[" * 250 + "]" * 250, "too many nested parentheses"),
    ("[" * 40 + "]" * 40, "nested more than"),
    ("-" * 40 + "priority", "nested more than"),
    ("priority" + " + 1" * 40, "nested more than"),
    ("payload == " + "1 + " * 25_000 + "1", "characters long"),
    ("1/0", "always fails"),
    # functions and scopes the language does not have
    ("lambda: payload", "lambda is not allowed"),
    ("(lambda: 1)()", "can be called"),
    ("[x for x in payload]", "comprehensions are not allowed"),
    ("{k: v for k, v in payload.items()}", "comprehensions are not allowed"),
    ("max(x for x in payload)", "generator expressions are not allowed"),
    ("(x := payload)", "assignment expressions"),
    ("x = 1", "assignments are not allowed"),
    ("priority; __import__('os')", "one expression"),
    ("await payload", "await is not allowed"),
    ("(yield)", "yield is not allowed"),
    # attributes and methods outside the allow-list
    ("payload.task", "reading the attribute .task"),
    ("payload.get", "reading the attribute .get"),
    ("payload.pop('task')", "the method .pop() is not allowed"),
    ("payload.update({'task': 1})", "the method .update() is not allowed"),
    ("payload.setdefault('a', 1)", "the method .setdefault() is not allowed"),
    ("sender_id.replace('a', 'b')", "the method .replace() is not allowed"),
    ("payload['f']()", "can be called"),
    ("max(payload, key=len)", "keyword arguments"),
    ("min(*payload)", "unpacking with *"),
    ("{**payload}", "unpacking with **"),
    ("~priority", "the operator ~ is not allowed"),
    ("payload @ payload", "the operator @ is not allowed"),
    ("len(payload, 2)", "takes 1 argument"),
    # odd literals and bytes
    ("b'bytes' == payload", "bytes literals"),
    ("1j == priority", "complex literals"),
    ("... == priority", "ellipsis literals"),
    ("priority\x00", "not a valid expression"),
    ("", "empty"),
    ("   ", "empty"),
]


@pytest.mark.parametrize(("source", "reason"), ESCAPES, ids=[repr(s[:40]) for s, _ in ESCAPES])
def test_sandbox_escapes_are_refused_when_the_rule_is_added(
    source: str, reason: str, reliability_figures: Figures
) -> None:
    reliability_figures.record("sandbox-escape route conditions", trials=1, faults=1,
                               note="each refused when its rule is added")  # fmt: skip
    with pytest.raises(RoutingError) as refused:
        route_condition(source)
    assert reason.lower() in refused.value.message.lower()
    assert "refused" in refused.value.message


def test_a_condition_must_be_a_string() -> None:
    with pytest.raises(RoutingError, match="a condition is a string, not int"):
        route_condition(42)  # type: ignore[arg-type]


def test_the_length_and_depth_limits_are_inclusive() -> None:
    longest = "priority == 1" + " " * (MAX_SOURCE_LENGTH - len("priority == 1"))
    assert route_condition(longest).evaluate(message()) is True
    with pytest.raises(RoutingError, match="characters long"):
        route_condition(longest + " ")
    deepest = "not " * (MAX_DEPTH - 1) + "priority"
    assert route_condition(deepest).evaluate(message()) is False
    with pytest.raises(RoutingError, match="nested more than"):
        route_condition("not " + deepest)


# ---------------------------------------------------------------------------------------------
# Bounded at run time, and errors while evaluating.

RUN_TIME_BOUNDS = [
    ("payload['text'] * payload['n'] == ''", {"text": "a", "n": 10**10}),
    ("payload['n'] * payload['text'] == ''", {"text": "ab", "n": MAX_SEQUENCE_LENGTH}),
    ("payload['text'] + payload['text'] == ''", {"text": "a" * (MAX_SEQUENCE_LENGTH // 2 + 1)}),
    ("payload['items'] + payload['items'] == []", {"items": [0] * MAX_SEQUENCE_LENGTH}),
    ("payload['items'] * 2 == []", {"items": [1]}),
    ("payload['n'] ** payload['n'] > 0", {"n": 10**6}),
    ("payload['big'] * payload['big'] > 0", {"big": 2**3000}),
    ("payload['fmt'] % payload['n'] == ''", {"fmt": "%999999999d", "n": 1}),
    ("len(str(payload)) > 0", {"nested": {"a": [1, 2]}}),
    ("int(payload['digits']) > 0", {"digits": "9" * 5000}),
]


@pytest.mark.parametrize(("source", "payload"), RUN_TIME_BOUNDS)
def test_run_time_bounds_make_the_condition_false_without_side_effects(
    source: str, payload: dict[str, Any]
) -> None:
    context = message(**payload)
    before = copy.deepcopy(context)
    condition = route_condition(source)
    assert condition.evaluate(context) is False
    assert condition.error_count == 1
    assert context == before


@pytest.mark.parametrize(
    ("source", "context", "error"),
    [
        ("payload['amount'] > 1000", message(), "KeyError"),
        ("payload['amount'] > 1000", message(amount="lots"), "TypeError"),
        ("1 / payload['zero'] > 0", message(zero=0), "ZeroDivisionError"),
        ("payload.get('task').lower() == 'x'", message(), "TypeError"),
        ("priority.lower() == 'x'", message(), "TypeError"),
        ("sender_id.get('x') == 1", message(), "TypeError"),
        ("headers['trace'] == 'abc123'", {"payload": {}}, "KeyError"),
        ("float(payload['x']) > 0", message(x="not a number"), "ValueError"),
    ],
)
def test_evaluation_errors_return_false_and_are_counted(
    source: str, context: dict[str, Any], error: str
) -> None:
    condition = route_condition(source)
    assert condition.evaluate(context) is False
    assert condition.evaluate(context) is False
    assert condition.error_count == 2
    assert condition.last_error is not None
    assert condition.last_error.startswith(error)


def test_evaluation_errors_are_logged_once_per_condition(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = route_condition("payload['amount'] > 1000")
    other = route_condition("payload['amount'] < 1000")
    with caplog.at_level(logging.WARNING, logger="orchestration.core.expressions.condition"):
        for _ in range(3):
            failing.evaluate(message())
        other.evaluate(message())
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.name == "orchestration.core.expressions.condition"
    ]
    assert len(logged) == 2
    assert "payload['amount'] > 1000" in logged[0]
    assert "KeyError" in logged[0]
    assert failing.error_count == 3


def test_conditions_evaluate_correctly_from_many_threads() -> None:
    condition = route_condition("payload['n'] % 2 == 0")

    def check(n: int) -> bool:
        return condition.evaluate(message(n=n)) is (n % 2 == 0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(check, range(2_000)))
    assert condition.error_count == 0


# ---------------------------------------------------------------------------------------------
# Value semantics: immutable, equal and pickled by source.


def test_conditions_are_equal_and_hashed_by_source() -> None:
    first = route_condition("priority <= 1")
    assert first == route_condition("priority <= 1")
    assert first != route_condition("priority <= 2")
    assert len({first, route_condition("priority <= 1")}) == 1
    assert str(first) == "priority <= 1"
    assert repr(first) == "Condition('priority <= 1')"
    assert Condition("priority <= 1", allowed_names=MESSAGE_NAMES) == first


def test_conditions_are_immutable() -> None:
    condition = route_condition("priority <= 1")
    with pytest.raises(AttributeError):
        condition.source = "True"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        condition._tree = None  # type: ignore[assignment]


def test_conditions_pickle_as_their_source_and_compile_again() -> None:
    condition = route_condition("payload.get('task') == 'calculate'")
    condition.evaluate({})  # a failure is not part of the value
    data = pickle.dumps(condition)
    assert b"payload.get('task') == 'calculate'" in data
    assert b"ast" not in data
    restored = pickle.loads(data)
    assert restored == condition
    assert restored.error_count == 0
    assert restored.evaluate(message(task="calculate")) is True
    assert copy.deepcopy(condition) == condition


def test_pipeline_conditions_keep_their_names_through_pickle() -> None:
    condition = compile_condition("inputs['rows'] > 0", allowed_names={"inputs"})
    restored = pickle.loads(pickle.dumps(condition))
    assert restored.allowed_names == frozenset({"inputs"})
    assert restored.evaluate({"inputs": {"rows": 1}}) is True


def test_message_names_are_the_bus_message_fields() -> None:
    assert (
        frozenset(
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
        == MESSAGE_NAMES
    )


# ---------------------------------------------------------------------------------------------
# Properties: nothing but RoutingError from compiling, nothing at all from evaluating.

LEAVES = st.sampled_from(
    [
        *sorted(MESSAGE_NAMES),
        *["payload['amount']", "payload.get('task')", "payload['tags']", "sender_id"],
        *["0", "1", "-1", "9", "99", "4096", "10 ** 9", "1e308", "0.5", "True", "None"],
        *["'a'", "'task'", "''", "'9' * 4000", "[]", "[1, 'a']", "()", "{}", "{'k': 1}"],
        *["len", "__import__", "getattr", "payload.__class__", "().__class__", "x"],
    ]
)
BINARY = st.sampled_from(["+", "-", "*", "**", "/", "//", "%", "<<", "&", "@"])
COMPARE = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"])
FUNCTIONS = st.sampled_from(["len", "min", "max", "abs", "str", "int", "float", "bool", "open"])
METHODS = st.sampled_from(
    [".get", ".keys", ".values", ".items", ".startswith", ".lower", ".strip", ".format", ".pop"]
)


def _expressions(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    arguments = st.lists(inner, max_size=3).map(", ".join)
    return st.one_of(
        st.tuples(inner, BINARY, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, COMPARE, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
        inner.map(lambda e: f"(not {e})"),
        inner.map(lambda e: f"-{e}"),
        st.tuples(FUNCTIONS, arguments).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, METHODS, arguments).map(lambda t: f"{t[0]}{t[1]}({t[2]})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
    )


EXPRESSIONS = st.recursive(LEAVES, _expressions, max_leaves=12)


def _check_compiles_or_refuses(source: str) -> None:
    try:
        condition = route_condition(source)
    except RoutingError:
        return
    for context in ({}, message(task="calculate", amount=1500, tags=["scope3"])):
        assert isinstance(condition.evaluate(context), bool)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=string.printable, max_size=120))
def test_random_printable_strings_compile_or_raise_routing_error(source: str) -> None:
    _check_compiles_or_refuses(source)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_random_expressions_compile_or_raise_routing_error_and_evaluate_to_a_bool(
    source: str,
) -> None:
    _check_compiles_or_refuses(source)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=MAX_SOURCE_LENGTH + 50))
def test_random_unicode_strings_compile_or_raise_routing_error(source: str) -> None:
    _check_compiles_or_refuses(source)
