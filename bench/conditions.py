"""Rule-condition benchmark: evaluation and compile time per call, per expression library.

Run: ``.venv/bin/python bench/conditions.py [--calls N] [--repeats R] [--json]``.

Candidates (each one that is importable is measured; the others are named on stderr):

- ``core.expressions``: what the router and pipelines use — simpleeval's interpreter
  behind the compile-time checker of ``orchestration/core/expressions/``.
- ``simpleeval``: the library as shipped (``EvalWithCompoundTypes``, tree parsed once, the
  context set as its names per call).
- ``cel-python`` (``celpy``, pure Python) and ``cel-rust`` (PyPI ``common-expression-language``,
  Rust bindings): CEL cannot read Python dicts, so every call converts the names the
  expression reads into CEL values first; that is the cost a router pays per message.
  ``(pre-converted)`` rows convert once, outside the loop: the floor, if one conversion per
  message could be shared by every rule. They are optional: ``pip install cel-python
  common-expression-language`` (or put them on ``PYTHONPATH``) to measure them.

Conditions: the seed syntax (``payload.get('task') == 'calculate'``, ...) and, for CEL, the
same tests written in CEL. Each candidate's results are checked against the hand-written
Python function before it is timed. Contexts: ``small``, the seed's message; ``large``, the
same with 200 more payload keys and 50 nested records (what a report-generation message
carries), to show which costs grow with the payload.

What is measured: ``eval``: per-call time of a condition compiled once, in microseconds — the
median over ``R`` batches of the mean over a batch of up to ``N`` calls (the batch shrinks
for slow candidates so each lasts about 50 ms; the garbage collector is off while timing, as
in ``timeit``); min/max are the fastest and slowest batch. Baseline: the hand-written Python
function for the same test, in the same run; ratio = baseline / achieved (1.00x would be as
fast as plain Python). ``compile``: time to compile each condition, the median over the
conditions (min/max across them).

Targets: the router aims at 50k decisions/s with p50 <= 0.1 ms, i.e. 20 us per decision for
everything (strategy, loads, a few rules), so one condition gets <= 5 us; compiling happens
once per added rule, <= 1 ms. The exit status is 1 when a ``core.expressions`` row misses
its target (the other candidates are there to compare, not to pass).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ comes first on sys.path and bench/registry.py would hide the registry
# package: put the repository root in its place.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import importlib
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from typing import Any

from bench.report import AT_MOST, Row, Target, exit_status, print_report
from bus.message import MESSAGE_NAMES
from orchestration.core.expressions import compile_condition

Context = Mapping[str, Any]
Evaluate = Callable[[Context], Any]

EVAL_TARGET = Target(5.0, AT_MOST)
COMPILE_TARGET = Target(1000.0, AT_MOST)
BATCH_SECONDS = 0.05
CHOSEN = "core.expressions"


@dataclass(frozen=True)
class Case:
    """One test, in the seed syntax, in CEL, and as a hand-written Python function."""

    label: str
    python: str
    cel: str
    baseline: Evaluate


CASES = (
    Case(
        "task ==",
        "payload.get('task') == 'calculate'",
        "'task' in payload && payload['task'] == 'calculate'",
        lambda c: c["payload"].get("task") == "calculate",
    ),
    Case(
        "amount and sender",
        "payload['amount'] > 1000 and sender_id.startswith('agent-')",
        "payload['amount'] > 1000 && sender_id.startsWith('agent-')",
        lambda c: c["payload"]["amount"] > 1000 and c["sender_id"].startswith("agent-"),
    ),
    Case(
        "priority <=",
        "priority <= 1",
        "priority <= 1",
        lambda c: c["priority"] <= 1,
    ),
    Case(
        "tag in",
        "'scope3' in payload.get('tags', [])",
        "'tags' in payload && 'scope3' in payload['tags']",
        lambda c: "scope3" in c["payload"].get("tags", []),
    ),
)
LARGE_CASES = ("task ==",)
"""Cases also timed on the large context (one is enough to show the payload's weight)."""


def small_context() -> dict[str, Any]:
    return {
        "payload": {"task": "calculate", "amount": 1500, "tags": ["scope1", "scope3"]},
        "sender_id": "agent-collector-7",
        "recipient_id": "agent-calculator-1",
        "message_type": "request",
        "priority": 1,
        "headers": {"trace": "abc123"},
        "correlation_id": "c-42",
        "metadata": {},
    }


def large_context() -> dict[str, Any]:
    context = small_context()
    payload = dict(context["payload"])
    payload.update({f"field_{i}": (i if i % 2 else f"value-{i}") for i in range(200)})
    payload["records"] = [
        {"site": f"site-{i}", "scope": i % 3 + 1, "kg_co2e": i * 12.5, "ok": True, "tags": ["a"]}
        for i in range(50)
    ]
    context["payload"] = payload
    return context


@dataclass(frozen=True)
class Candidate:
    """An expression library: how to compile a case into a per-call function."""

    name: str
    compile: Callable[[Case, Context], Evaluate]


def _chosen(case: Case, _: Context) -> Evaluate:
    return compile_condition(case.python, allowed_names=MESSAGE_NAMES).evaluate


def _simpleeval(case: Case, _: Context) -> Evaluate:
    import simpleeval  # type: ignore[import-untyped]

    evaluator = simpleeval.EvalWithCompoundTypes()
    tree = evaluator.parse(case.python)

    def evaluate(context: Context) -> Any:
        evaluator.names = context
        return evaluator.eval(case.python, previously_parsed=tree)

    return evaluate


def _celpy_program(case: Case) -> tuple[Any, Any]:
    celpy = importlib.import_module("celpy")
    environment = celpy.Environment()
    return celpy, environment.program(environment.compile(case.cel))


def _cel_python(case: Case, _: Context) -> Evaluate:
    celpy, program = _celpy_program(case)
    names = sorted(compile_condition(case.python, allowed_names=MESSAGE_NAMES).names)
    to_cel = celpy.json_to_cel

    def evaluate(context: Context) -> Any:
        return program.evaluate({name: to_cel(context[name]) for name in names})

    return evaluate


def _cel_python_preconverted(case: Case, context: Context) -> Evaluate:
    celpy, program = _celpy_program(case)
    activation = {name: celpy.json_to_cel(value) for name, value in context.items()}
    return lambda _: program.evaluate(activation)


def _cel_rust(case: Case, _: Context) -> Evaluate:
    cel = importlib.import_module("cel")
    program = cel.compile(case.cel)
    names = program.variables()

    def evaluate(context: Context) -> Any:
        return program.execute({name: context[name] for name in names})

    return evaluate


def _cel_rust_preconverted(case: Case, context: Context) -> Evaluate:
    cel = importlib.import_module("cel")
    program = cel.compile(case.cel)
    prepared = cel.Context({name: context[name] for name in program.variables()})
    return lambda _: program.execute(prepared)


CANDIDATES = (
    Candidate(CHOSEN, _chosen),
    Candidate("simpleeval", _simpleeval),
    Candidate("cel-python", _cel_python),
    Candidate("cel-python (pre-converted)", _cel_python_preconverted),
    Candidate("cel-rust", _cel_rust),
    Candidate("cel-rust (pre-converted)", _cel_rust_preconverted),
)
MODULES = {
    CHOSEN: ("simpleeval", "simpleeval"),
    "simpleeval": ("simpleeval", "simpleeval"),
    "cel-python": ("celpy", "cel-python"),
    "cel-python (pre-converted)": ("celpy", "cel-python"),
    "cel-rust": ("cel", "common-expression-language"),
    "cel-rust (pre-converted)": ("cel", "common-expression-language"),
}


def available(candidate: Candidate) -> bool:
    module, _ = MODULES[candidate.name]
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def per_call_us(function: Callable[[], Any], *, calls: int, repeats: int) -> list[float]:
    """Mean microseconds per call of each of ``repeats`` batches (batch size calibrated)."""
    start = time.perf_counter()
    for _ in range(10):
        function()
    estimate = max((time.perf_counter() - start) / 10, 1e-9)
    number = max(5, min(calls, int(BATCH_SECONDS / estimate)))
    batches = timeit.Timer(function).repeat(repeat=repeats, number=number)
    return [seconds / number * 1e6 for seconds in batches]


def measure_eval(
    candidate: Candidate,
    case: Case,
    context_name: str,
    context: Context,
    *,
    baseline: float,
    calls: int,
    repeats: int,
) -> Row:
    metric = f"eval {case.label} ({context_name})"
    try:
        evaluate = candidate.compile(case, context)
        got, expected = bool(evaluate(context)), bool(case.baseline(context))
    except Exception as exc:  # a candidate that cannot run a case gets a failing row
        print(f"{candidate.name}: {metric}: {type(exc).__name__}: {exc}", file=sys.stderr)
        got, expected = None, True
    if got != expected:
        print(f"{candidate.name}: {metric}: result {got}, expected {expected}", file=sys.stderr)
        samples = [float("nan")]
    else:
        samples = per_call_us(partial(evaluate, context), calls=calls, repeats=repeats)
    return Row.from_samples(
        candidate.name, metric, "us", samples, target=EVAL_TARGET, baseline=baseline
    )


def measure_compile(candidate: Candidate, context: Context, *, calls: int, repeats: int) -> Row:
    samples = []
    for case in CASES:
        per_case = per_call_us(
            partial(candidate.compile, case, context),
            calls=max(1, calls // 20),
            repeats=max(1, repeats // 2),
        )
        samples.append(statistics.median(per_case))
    return Row.from_samples(candidate.name, "compile", "us", samples, target=COMPILE_TARGET)


def run(*, calls: int, repeats: int) -> list[Row]:
    contexts = {"small": small_context(), "large": large_context()}
    baselines = {
        (case.label, name): statistics.median(
            per_call_us(partial(case.baseline, ctx), calls=calls, repeats=repeats)
        )
        for case in CASES
        for name, ctx in contexts.items()
    }
    rows: list[Row] = []
    for candidate in CANDIDATES:
        if not available(candidate):
            _, package = MODULES[candidate.name]
            print(f"{candidate.name}: skipped, {package} is not installed", file=sys.stderr)
            continue
        for case in CASES:
            for name, context in contexts.items():
                if name != "small" and case.label not in LARGE_CASES:
                    continue
                rows.append(
                    measure_eval(
                        candidate,
                        case,
                        name,
                        context,
                        baseline=baselines[(case.label, name)],
                        calls=calls,
                        repeats=repeats,
                    )
                )
        if "pre-converted" not in candidate.name:
            rows.append(measure_compile(candidate, contexts["small"], calls=calls, repeats=repeats))
    return rows


def _versions() -> str:
    found = []
    for package in ("simpleeval", "cel-python", "common-expression-language"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join(found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=20_000, help="most calls per batch")
    parser.add_argument("--repeats", type=int, default=5, help="batches per row")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    print(f"libraries: {_versions()}", file=sys.stderr)
    rows = run(calls=args.calls, repeats=args.repeats)
    print_report(rows, as_json=args.json, title="rule conditions: per-call time (us)")
    return exit_status(row for row in rows if row.component == CHOSEN)


if __name__ == "__main__":
    sys.exit(main())
