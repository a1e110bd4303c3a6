"""Every component benchmark in one table: ``python bench/run.py --component all``.

Also ``orchestration bench``. Each component's script (``bench/<name>.py``) runs as its own
process, in turn, on its own embedded servers, so one cannot slow another; their rows are
collected into one table (or, with ``--json``, one JSON list) with the machine they ran on.
Exits 1 when any target is missed or a benchmark could not run, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.report import ROWS_FILE_ENV, Row, exit_status, machine, print_report, row_from_dict

COMPONENTS: dict[str, list[tuple[str, list[str]]]] = {
    "bus": [("bus", []), ("bridge", [])],
    "routing": [("routing", []), ("scatter", [])],
    "swarm": [("swarm", [])],
    "saga": [("saga", [])],
    "registry": [("registry", [])],
}
"""Component -> the scripts that measure it, with their arguments (full size)."""

QUICK: dict[str, list[str]] = {
    "bus": ["--messages", "2000", "--seconds", "0.5", "--requests", "20", "--repeats", "1"],
    "bridge": ["--workflows", "5", "--messages", "50", "--repeats", "1"],
    "scatter": ["--requests", "10", "--repeats", "1"],
    "routing": ["--agents", "500", "--decisions", "2000", "--repeats", "1"],
    "swarm": ["--partitions", "40", "--suppliers", "10", "--agents", "10", "--processes", "1",
              "--repeats", "1", "--workloads", "slowdown", "--behaviors", "migrating"],
    "saga": ["--sagas", "10", "--repeats", "1", "--concurrency", "5", "--latency-runs", "5",
             "--wide-sagas", "10", "--wide-concurrency", "5"],
    "registry": ["--agents", "200", "--repeats", "1", "--queries", "20", "--heartbeats", "2000"],
}  # fmt: skip
"""Smaller arguments for ``--quick``: checks every benchmark runs, measures nothing useful."""

BENCH_DIR = Path(__file__).resolve().parent


def run_script(
    name: str,
    args: list[str],
    rows_file: Path,
    timeout_s: float,
    *,
    env: Mapping[str, str] | None = None,
    bench_dir: Path = BENCH_DIR,
) -> str | None:
    """Run ``bench/<name>.py`` (of ``bench_dir``) with ``env`` (default: ours); its rows land
    in ``rows_file``. An error line, or None."""
    env = {**(os.environ if env is None else env), ROWS_FILE_ENV: str(rows_file)}
    command = [sys.executable, str(bench_dir / f"{name}.py"), "--json", *args]
    started = time.monotonic()
    print(f"running bench/{name}.py {' '.join(args)}".rstrip(), file=sys.stderr, flush=True)
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return f"bench/{name}.py did not finish within {timeout_s:.0f} s"
    took = time.monotonic() - started
    print(f"  bench/{name}.py exited {done.returncode} after {took:.0f} s", file=sys.stderr)
    wrote_rows = rows_file.exists() and rows_file.stat().st_size > 0
    # Exit 1 with rows is "a target was missed"; without rows it is a crash (Python exits 1 on
    # an uncaught exception too).
    if done.returncode not in (0, 1) or not wrote_rows:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"bench/{name}.py failed (exit {done.returncode}): {tail}"
    return None


def script_rows(
    name: str,
    args: list[str],
    timeout_s: float,
    *,
    env: Mapping[str, str] | None = None,
    bench_dir: Path = BENCH_DIR,
) -> tuple[list[Row], str | None]:
    """Run ``bench/<name>.py`` (see :func:`run_script`): the rows it printed, and an error
    line if it could not run."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        rows_file = Path(tmp) / f"{name}.jsonl"
        error = run_script(name, args, rows_file, timeout_s, env=env, bench_dir=bench_dir)
        lines = rows_file.read_text(encoding="utf-8").splitlines() if rows_file.exists() else []
    return [row_from_dict(json.loads(line)) for line in lines if line], error


def collect(components: list[str], *, quick: bool, timeout_s: float) -> tuple[list[Row], list[str]]:
    """Run the components' scripts in turn; their rows, and what could not run."""
    rows: list[Row] = []
    errors: list[str] = []
    for component in components:
        for name, args in COMPONENTS[component]:
            found, error = script_rows(name, QUICK[name] if quick else args, timeout_s)
            rows += found
            if error:
                errors.append(error)
    return rows, errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--component", choices=["all", *COMPONENTS], default="all", help="what to measure"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds each script may take"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    components = list(COMPONENTS) if args.component == "all" else [args.component]
    rows, errors = collect(components, quick=args.quick, timeout_s=args.timeout)
    title = f"GreenLang Orchestration benchmarks ({', '.join(components)})"
    print_report(rows, as_json=args.json, title=title)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if not args.json:
        print(f"machine: {json.dumps(machine())}", file=sys.stderr)
    return 1 if errors else exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
