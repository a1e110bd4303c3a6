"""What every benchmark prints: one row per metric, as a table or (``--json``) a JSON list.

A row holds the median of repeated samples (with their min and max), the target and its
direction, the baseline measured in the same run, and their ratio::

    row = Row.from_samples(
        "saga", "throughput", "sagas/min", [1210.0, 1185.5, 1250.2],
        target=Target(1000, AT_LEAST), baseline=1400.0,
    )
    print_report([row], as_json=args.json, title="saga benchmark")
    sys.exit(exit_status([row]))

``ratio`` is oriented so that **above 1 always means better than the baseline**:
``achieved / baseline`` when higher is better (``>=`` targets, e.g. throughput) and
``baseline / achieved`` when lower is better (``<=`` targets, e.g. latency).

With ``--json`` stdout is exactly the JSON list of rows the design asks for; the machine
description then goes to stderr, so piping stdout into ``jq`` keeps working.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any, Literal, TextIO

__all__ = [
    "AT_LEAST",
    "AT_MOST",
    "ROWS_FILE_ENV",
    "Direction",
    "Row",
    "Target",
    "exit_status",
    "format_value",
    "machine",
    "print_report",
    "ratio",
    "render_table",
    "row_from_dict",
    "rows_to_json",
]

Direction = Literal[">=", "<="]
AT_LEAST: Direction = ">="
"""Higher is better (throughput, success rates)."""
AT_MOST: Direction = "<="
"""Lower is better (latency, overhead)."""
EN_DASH = "\u2013"
ROWS_FILE_ENV = "BENCH_ROWS_FILE"
"""Where ``print_report`` also appends its rows (JSON lines), for ``bench/run.py``."""


@dataclass(frozen=True)
class Target:
    """A threshold and which side of it passes: ``Target(1000, AT_LEAST)`` is ``>= 1000``."""

    value: float
    direction: Direction = AT_LEAST

    def __post_init__(self) -> None:
        if self.direction not in (AT_LEAST, AT_MOST):
            raise ValueError(f"direction must be '>=' or '<=', not {self.direction!r}")

    def met_by(self, achieved: float) -> bool:
        if math.isnan(achieved):
            return False
        if self.direction == AT_LEAST:
            return achieved >= self.value
        return achieved <= self.value

    def __str__(self) -> str:
        return f"{self.direction} {format_value(self.value)}"


def ratio(achieved: float, baseline: float | None, direction: Direction) -> float | None:
    """``achieved`` against ``baseline``, oriented so that above 1 means better.

    ``achieved / baseline`` for ``>=`` (higher is better), ``baseline / achieved`` for ``<=``
    (lower is better). None when there is no baseline or the division is undefined.
    """
    if baseline is None:
        return None
    numerator, denominator = (achieved, baseline) if direction == AT_LEAST else (baseline, achieved)
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return None
    return numerator / denominator


@dataclass(frozen=True)
class Row:
    """One measured metric; its fields are exactly the JSON keys the design lists.

    ``target`` is the threshold's value (its direction lives in :class:`Target`, the table
    shows it); ``achieved`` is the median of the samples, ``min``/``max`` their extremes.
    """

    component: str
    metric: str
    unit: str
    target: float
    achieved: float
    min: float
    max: float
    baseline: float | None
    ratio: float | None
    passed: bool
    direction: Direction = AT_LEAST

    @classmethod
    def from_samples(
        cls,
        component: str,
        metric: str,
        unit: str,
        samples: Sequence[float],
        *,
        target: Target,
        baseline: float | None = None,
        ratio_value: float | None = None,
    ) -> Row:
        """Summarise repeated samples: median, min, max, and whether the median passes.

        Args:
            samples: one value per repeat; at least one. A NaN sample (a run that could not
                be measured) makes the row fail.
            target: the threshold and its direction.
            baseline: the same-run baseline, in the row's unit (None if there is none).
            ratio_value: the ratio to show instead of the computed one, for rows whose
                ``achieved`` is itself a ratio (then ``baseline`` is only context).
        """
        if not samples:
            raise ValueError(f"{component}/{metric}: no samples")
        values = [float(s) for s in samples]
        if any(math.isnan(v) for v in values):
            achieved = low = high = math.nan
        else:
            achieved = statistics.median(values)
            low, high = min(values), max(values)
        shown_ratio = ratio_value
        if shown_ratio is None:
            shown_ratio = ratio(achieved, baseline, target.direction)
        return cls(
            component=component,
            metric=metric,
            unit=unit,
            target=float(target.value),
            achieved=achieved,
            min=low,
            max=high,
            baseline=baseline,
            ratio=shown_ratio,
            passed=target.met_by(achieved),
            direction=target.direction,
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON object: the design's ten keys (NaN becomes null)."""
        data = asdict(self)
        data.pop("direction")
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in data.items()}


def exit_status(rows: Iterable[Row]) -> int:
    """The process exit status: 1 when any row missed its target (or there are none), else 0."""
    rows = list(rows)
    return 0 if rows and all(row.passed for row in rows) else 1


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Where the numbers were measured: cores, memory, Python, key library versions."""
    memory = _memory_bytes()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1) if memory else None,
        "python": platform.python_version(),
        "temporalio": _version("temporalio"),
        "aiokafka": _version("aiokafka"),
        "platform": platform.platform(),
    }


def format_value(value: float | None) -> str:
    """A number with precision that suits its size: ``1234``, ``12.3``, ``0.873``."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if magnitude < 1 else f"{value:.2f}"


def rows_to_json(rows: Iterable[Row]) -> str:
    """The ``--json`` output: a JSON list of row objects."""
    return json.dumps([row.as_dict() for row in rows], indent=2)


def _machine_line(info: dict[str, Any]) -> str:
    return (
        f"{info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}, "
        f"temporalio {info['temporalio']}, aiokafka {info['aiokafka']}, {info['platform']}"
    )


def _unit_suffix(unit: str) -> str:
    return unit if unit in ("", "x", "%") else f" {unit}"


def row_from_dict(data: dict[str, Any]) -> Row:
    """A row read back from the rows file (``None`` numbers were NaN)."""
    numbers = {
        k: math.nan if data[k] is None else float(data[k]) for k in ("achieved", "min", "max")
    }
    return Row(
        component=data["component"],
        metric=data["metric"],
        unit=data["unit"],
        target=float(data["target"]),
        baseline=data["baseline"],
        ratio=data["ratio"],
        passed=bool(data["passed"]),
        direction=data.get("direction", AT_LEAST),
        **numbers,
    )


def render_table(rows: Sequence[Row], *, title: str, info: dict[str, Any] | None = None) -> Any:
    """A ``rich`` table of the rows, with the machine description as its caption."""
    from rich.table import Table

    table = Table(title=title, caption=_machine_line(info or machine()))
    table.add_column("component")
    table.add_column("metric")
    for name in ("target", f"achieved (min{EN_DASH}max)", "baseline", "ratio"):
        table.add_column(name, justify="right")
    table.add_column("pass/fail", justify="center")
    for row in rows:
        unit = _unit_suffix(row.unit)
        spread = f"{format_value(row.min)}{EN_DASH}{format_value(row.max)}"
        table.add_row(
            row.component,
            row.metric,
            f"{row.direction} {format_value(row.target)}{unit}",
            f"{format_value(row.achieved)} ({spread})",
            format_value(row.baseline),
            f"{row.ratio:.2f}x" if row.ratio is not None else "-",
            "[green]PASS[/green]" if row.passed else "[bold red]FAIL[/bold red]",
        )
    return table


def print_report(
    rows: Sequence[Row],
    *,
    as_json: bool,
    title: str,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> None:
    """Print the rows: a table on ``out``, or with ``as_json`` the JSON list on ``out`` and
    the machine description on ``err`` (stdout stays one JSON document)."""
    from rich.console import Console

    out = out or sys.stdout
    err = err or sys.stderr
    info = machine()
    rows_file = os.environ.get(ROWS_FILE_ENV)
    if rows_file:  # bench/run.py collects every component's rows, directions included
        with open(rows_file, "a", encoding="utf-8") as collected:
            for row in rows:
                collected.write(json.dumps({**row.as_dict(), "direction": row.direction}) + "\n")
    if as_json:
        print(rows_to_json(rows), file=out)
        print(f"machine: {json.dumps(info)}", file=err)
        return
    Console(file=out, width=max(120, Console(file=out).width)).print(
        render_table(rows, title=title, info=info)
    )
