"""What tracing costs: the saga benchmark with tracing off, on, and (optionally) before it existed.

Run: ``.venv/bin/python bench/tracing.py [--pairs P] [--sagas N] [--concurrency C]
[--latency-runs L] [--before REF] [--json]`` (about two and a half minutes a run on two
cores; ``2 * P`` runs, ``3 * P`` with ``--before``).

Each run is ``bench/saga.py --repeats 1 --wide-concurrency 0`` on its own embedded stack
(its latency rows: L sequential sagas and hand-written workflows, one at a time; its
throughput row: N sagas at C in flight), in one of these modes, every mode going first in
turn:

- ``off``: tracing off as users get it by default; to show that nothing is exported, the
  run is given this benchmark's OTLP receiver as ``OTEL_EXPORTER_OTLP_ENDPOINT`` with
  ``OTEL_TRACES_EXPORTER=none`` (an off switch that must hold);
- ``on``: every process of the run (the benchmark's client and agent, the orchestration
  worker, the registry service) exports its spans to the receiver over OTLP/HTTP with the
  SDK's default batching (the hand-written baseline is traced too: it shares the client);
- ``before`` (with ``--before REF``): the saga benchmark of commit REF, from a temporary
  ``git worktree``, run with this virtualenv: the code before tracing existed.

Rows (component ``tracing``), each a median over the pairs of per-pair ratios:

- ``off_latency_p50_ratio``: off saga p50 / before saga p50 (without ``--before``: / the
  same run's hand-written p50); target <= 1.05, i.e. nothing measurably slower when off;
- ``on_latency_p50_ratio``, ``on_latency_p99_ratio``: on / off saga latency; target <= 1.10;
- ``on_throughput_ratio``: on / off sagas per minute at C in flight; target >= 0.90;
- ``off_spans``: spans the receiver got from off runs; target 0;
- ``on_spans_per_saga``: spans received per saga started in on runs (the hand-written
  baseline's spans included), for sizing a collector.

Growth: spans per saga do not depend on the number of sagas; ``bench/scaling.py``'s 10x
scenarios apply to the saga rows with tracing off, which is every other benchmark's mode.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable, not bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.report import AT_LEAST, AT_MOST, Row, Target, exit_status, print_report
from bench.run import BENCH_DIR, script_rows
from orchestration.testing.otlp import OtlpReceiver

MODES = ("off", "on", "before")
REPO = BENCH_DIR.parent


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}


def mode_env(mode: str, receiver: OtlpReceiver, before: Path | None) -> dict[str, str]:
    env = _clean_env()
    if mode == "on":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    elif mode == "off":
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        env["OTEL_TRACES_EXPORTER"] = "none"
    elif before is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(before), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    return env


@contextlib.contextmanager
def worktree(ref: str | None) -> Iterator[Path | None]:
    """A temporary checkout of ``ref`` (removed afterwards), or None."""
    if ref is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        path = Path(tmp) / "checkout"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                check=False, capture_output=True,
            )  # fmt: skip


def saga_args(args: argparse.Namespace) -> list[str]:
    return [
        "--sagas", str(args.sagas), "--concurrency", str(args.concurrency),
        "--repeats", "1", "--latency-runs", str(args.latency_runs), "--wide-concurrency", "0",
    ]  # fmt: skip


def sagas_per_run(args: argparse.Namespace) -> int:
    """Sagas and hand-written runs one saga benchmark run starts: warm-up, latency (with its
    5 unmeasured pairs), and the saga, baseline, routed and compensation batches."""
    warm = min(args.sagas, args.concurrency)
    return 2 * warm + 2 * (args.latency_runs + 5) + 4 * args.sagas


def measure(args: argparse.Namespace) -> list[Row]:
    modes = [m for m in MODES if m != "before" or args.before]
    figures: dict[str, list[dict[str, Row]]] = {m: [] for m in modes}
    spans: dict[str, int] = dict.fromkeys(modes, 0)
    errors: list[str] = []
    with OtlpReceiver() as receiver, worktree(args.before) as before:
        for pair in range(args.pairs):
            order = modes[pair % len(modes) :] + modes[: pair % len(modes)]
            for mode in order:
                print(f"pair {pair + 1}/{args.pairs}: tracing {mode}", file=sys.stderr)
                received = len(receiver.snapshot())
                bench_dir = before / "bench" if mode == "before" and before else BENCH_DIR
                rows, error = script_rows(
                    "saga",
                    saga_args(args),
                    args.timeout,
                    env=mode_env(mode, receiver, before),
                    bench_dir=bench_dir,
                )
                if error:
                    errors.append(f"{mode}: {error}")
                    continue
                # The exporter's last batch leaves when the run's processes exit.
                spans[mode] += len(receiver.snapshot()) - received
                figures[mode].append({row.metric: row for row in rows})
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return _rows(args, figures, spans)


def _paired(
    figures: dict[str, list[dict[str, Row]]], mode: str, base: str, metric: str, *, of: str
) -> list[float]:
    """Per pair: ``mode``'s ``metric`` / ``base``'s (``of``: "achieved" or "baseline")."""
    values = []
    for mine, theirs in zip(figures[mode], figures[base], strict=False):
        a = mine.get(metric)
        b = theirs.get(metric)
        if a is None or b is None:
            continue
        denominator = getattr(b, of)
        if denominator:
            values.append(a.achieved / denominator)
    return values or [float("nan")]


def _rows(
    args: argparse.Namespace, figures: dict[str, list[dict[str, Row]]], spans: dict[str, int]
) -> list[Row]:
    def median_of(mode: str, metric: str) -> float | None:
        found = [f[metric].achieved for f in figures.get(mode, []) if metric in f]
        return statistics.median(found) if found else None

    rows = []
    if args.before:
        off = _paired(figures, "off", "before", "latency_p50_ms", of="achieved")
        baseline = median_of("before", "latency_p50_ms")
    else:
        off = _paired(figures, "off", "off", "latency_p50_ms", of="baseline")
        baseline = None
    rows.append(
        Row.from_samples(
            "tracing", "off_latency_p50_ratio", "x", off,
            target=Target(1.05, AT_MOST), baseline=baseline,
            ratio_value=1 / statistics.median(off),
        )
    )  # fmt: skip
    for metric in ("latency_p50_ms", "latency_p99_ms"):
        on = _paired(figures, "on", "off", metric, of="achieved")
        rows.append(
            Row.from_samples(
                "tracing", f"on_{metric.removesuffix('_ms')}_ratio", "x", on,
                target=Target(1.10, AT_MOST), baseline=median_of("off", metric),
                ratio_value=1 / statistics.median(on),
            )
        )  # fmt: skip
    throughput = _paired(figures, "on", "off", "throughput", of="achieved")
    rows.append(
        Row.from_samples(
            "tracing", "on_throughput_ratio", "x", throughput,
            target=Target(0.90, AT_LEAST), baseline=median_of("off", "throughput"),
            ratio_value=statistics.median(throughput),
        )
    )  # fmt: skip
    rows.append(
        Row.from_samples(
            "tracing", "off_spans", "spans", [float(spans["off"])], target=Target(0, AT_MOST)
        )
    )
    started = max(1, len(figures["on"])) * sagas_per_run(args)
    rows.append(
        Row.from_samples(
            "tracing", "on_spans_per_saga", "spans", [spans["on"] / started],
            target=Target(1, AT_LEAST),
        )
    )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=2, help="runs of each mode (P)")
    parser.add_argument("--sagas", type=int, default=300, help="sagas per throughput batch")
    parser.add_argument("--concurrency", type=int, default=50, help="sagas in flight")
    parser.add_argument("--latency-runs", type=int, default=100, help="sequential runs (L)")
    parser.add_argument("--before", help="a git ref to measure as the code before tracing")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    if min(args.pairs, args.sagas, args.concurrency, args.latency_runs) < 1:
        parser.error("--pairs, --sagas, --concurrency and --latency-runs must be at least 1")
    rows = measure(args)
    title = f"tracing benchmark ({args.pairs} pairs of bench/saga.py runs)"
    print_report(rows, as_json=args.json, title=title)
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
