"""The saga benchmark runs end to end at a tiny size and reports every row: latency, routed
and wide-concurrency ones too."""

from __future__ import annotations

import pytest

from bench.saga import latency_rows, parse_args, percentile, run_bench

pytestmark = pytest.mark.slow


async def test_the_benchmark_measures_fixed_routed_and_compensated_sagas() -> None:
    args = parse_args([
        "--sagas", "4", "--repeats", "1", "--concurrency", "2", "--timeout", "120",
        "--latency-runs", "3", "--wide-sagas", "4", "--wide-concurrency", "3",
    ])  # fmt: skip
    rows = await run_bench(args)
    assert [r.metric for r in rows] == [
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_p50_ratio",
        "latency_p99_ratio",
        "throughput",
        "ratio_to_hand_written",
        "routed_throughput",
        "routed_ratio_to_fixed",
        "throughput_at_3_in_flight",
        "ratio_at_3_in_flight",
        "compensation_success",
    ]
    assert all(r.achieved > 0 for r in rows)
    assert rows[-1].achieved == 100


async def test_latency_only_measures_nothing_else() -> None:
    args = parse_args(["--latency-only", "--latency-runs", "2", "--repeats", "1"])
    rows = await run_bench(args)
    assert [r.metric for r in rows] == [
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_p50_ratio",
        "latency_p99_ratio",
    ]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 201)]
    assert percentile(values, 0.5) == 100
    assert percentile(values, 0.99) == 198
    assert percentile([7.0], 0.99) == 7


def test_latency_rows_compare_each_repeat_with_its_own_baseline() -> None:
    saga = [[10.0, 12.0, 30.0], [20.0, 22.0, 40.0]]
    baseline = [[10.0, 10.0, 20.0], [10.0, 20.0, 40.0]]
    rows = {r.metric: r for r in latency_rows(saga, baseline)}
    p50, ratio = rows["latency_p50_ms"], rows["latency_p50_ratio"]
    assert (p50.achieved, p50.baseline) == (17.0, 15.0)  # medians of 12, 22 and of 10, 20
    assert p50.target == 1.2 * 15.0 and p50.direction == "<="
    assert ratio.achieved == (1.2 + 1.1) / 2  # per repeat: 12 / 10 and 22 / 20
    assert ratio.target == 1.2 and ratio.passed  # 1.15 <= 1.2
    assert ratio.ratio == 1 / ratio.achieved  # above 1 would be better than hand-written
    assert rows["latency_p99_ratio"].achieved == 1.25  # 30 / 20 and 40 / 40


def test_a_failed_latency_run_fails_its_rows() -> None:
    rows = latency_rows([[10.0, float("nan")]], [[10.0, 10.0]])
    assert not any(r.passed for r in rows)
