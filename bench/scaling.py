"""How the figures scale: 10x the agents, 10x the partitions, 10x the concurrent sagas.

Run: ``.venv/bin/python bench/scaling.py [--json]`` (about twenty-five minutes on two
cores).

Each scenario runs one component's benchmark twice in turn, at its usual size and with one
dimension multiplied by ten, and prints both figures of every metric and their ratio:

- agents: ``bench/registry.py`` with 10,000 and 100,000 registered agents (discovery through
  the service, heartbeats end to end). The router is not in this list: its per-decision work
  depends on a rule's targets (500 in ``bench/routing.py``), not on the size of the fleet, and
  its in-process fixture of 100,000 agents takes minutes to build, long enough for the first
  agents' health to go stale before the first decision;
- partitions: the swarm example, a supplier CSV of 100,000 and 1,000,000 rows in 1,000 and
  10,000 partitions, 100 agents;
- concurrent sagas: ``bench/saga.py`` with 50 and 500 sagas in flight (1,000 sagas a batch;
  throughput rows only);
- latency runs: ``bench/saga.py --latency-only`` with 100 and 1,000 sequential runs of each
  kind (saga and hand-written, one at a time): the percentiles should not grow with the
  runs (a growing history database, leaks). 100 rather than the usual 200: at about 0.35 s
  a run on two cores, 10x 200 would take over twenty minutes.

Repeats are fewer than in ``bench/run.py`` (this is about trends); ``--json`` prints rows
``{scenario, component, metric, unit, base, scaled, change}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.report import Row, format_value, machine
from bench.run import script_rows

SAGA_THROUGHPUT_ONLY = ["--latency-runs", "0", "--wide-concurrency", "0"]
"""The concurrency scenario measures throughput: its x10 *is* the 500-in-flight case, and
latency (one saga at a time) does not depend on ``--concurrency``; it has its own scenario."""

SCENARIOS: list[tuple[str, str, list[str], list[str]]] = [
    ("10x agents", "registry", ["--agents", "10000", "--repeats", "2"],
     ["--agents", "100000", "--repeats", "2"]),
    ("10x partitions", "swarm", ["--partitions", "1000", "--repeats", "3", "--skip-matrix"],
     ["--partitions", "10000", "--repeats", "3", "--skip-matrix"]),
    ("10x concurrent sagas", "saga",
     ["--sagas", "1000", "--concurrency", "50", "--repeats", "1", *SAGA_THROUGHPUT_ONLY],
     ["--sagas", "1000", "--concurrency", "500", "--repeats", "1", *SAGA_THROUGHPUT_ONLY]),
    ("10x latency runs", "saga", ["--latency-only", "--latency-runs", "100", "--repeats", "1"],
     ["--latency-only", "--latency-runs", "1000", "--repeats", "1"]),
]  # fmt: skip
"""(scenario, script, usual arguments, arguments with one dimension x10)."""


def rows_of(name: str, args: list[str], timeout_s: float) -> tuple[dict[str, Row], str | None]:
    rows, error = script_rows(name, args, timeout_s)
    return {row.metric: row for row in rows}, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per script")
    parser.add_argument(
        "--only",
        choices=[name for _, name, _, _ in SCENARIOS],
        help="the scenarios of one component (registry, swarm, saga: both saga ones)",
    )
    args = parser.parse_args(argv)
    results: list[dict[str, object]] = []
    errors: list[str] = []
    for scenario, name, base_args, scaled_args in SCENARIOS:
        if args.only is not None and name != args.only:
            continue
        base, base_error = rows_of(name, base_args, args.timeout)
        scaled, scaled_error = rows_of(name, scaled_args, args.timeout)
        errors += [e for e in (base_error, scaled_error) if e]
        for metric, row in base.items():
            if metric not in scaled or metric.startswith("makespan_"):
                continue
            other = scaled[metric]
            change = other.achieved / row.achieved if row.achieved else None
            results.append(
                {
                    "scenario": scenario,
                    "component": row.component,
                    "metric": metric,
                    "unit": row.unit,
                    "base": row.achieved,
                    "scaled": other.achieved,
                    "change": change,
                }
            )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="scaling: each figure at its usual size and with one dimension x10")
        for column in ("scenario", "component", "metric", "usual", "x10", "change"):
            table.add_column(column, justify="right" if column in ("usual", "x10") else "left")
        for r in results:
            unit = f" {r['unit']}"
            change = r["change"]
            table.add_row(
                str(r["scenario"]), str(r["component"]), str(r["metric"]),
                format_value(r["base"]) + unit,  # type: ignore[arg-type]
                format_value(r["scaled"]) + unit,  # type: ignore[arg-type]
                f"{change:.2f}x" if isinstance(change, float) else "-",
            )  # fmt: skip
        Console(width=140).print(table)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"machine: {json.dumps(machine())}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
