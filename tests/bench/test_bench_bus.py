"""The bus benchmark at tiny sizes against the session's broker: its rows, never its timings."""

from __future__ import annotations

import json
import math

import pytest

from bench.bus import bus_rows, measure, parse_args, percentile, raw_value
from bench.report import AT_LEAST, AT_MOST

EXPECTED = {
    # metric: (unit, target, direction)
    "publish_batch_throughput": ("msg/s", 100_000, AT_LEAST),
    "publish_ratio_vs_raw": ("x", 0.8, AT_LEAST),
    "publish_gathered_throughput": ("msg/s", 100_000, AT_LEAST),
    "publish_gathered_ratio_vs_raw": ("x", 0.8, AT_LEAST),
    "publish_tasks_throughput": ("msg/s", 100_000, AT_LEAST),
    "publish_tasks_ratio_vs_raw": ("x", 0.8, AT_LEAST),
    "publish_single_throughput": ("msg/s", 1000, AT_LEAST),
    "e2e_latency_p50": ("ms", 10, AT_MOST),
    "e2e_latency_p99": ("ms", 50, AT_MOST),
    "request_response_p50": ("ms", 10, AT_MOST),
}


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


async def test_the_benchmark_measures_every_row_against_a_real_broker(
    kafka_bootstrap_servers: str,
) -> None:
    args = parse_args(["--messages", "50", "--seconds", "0.2", "--requests", "3", "--repeats", "1"])

    rows = await measure(kafka_bootstrap_servers, args, {"bench": "self"})

    assert [row.metric for row in rows] == list(EXPECTED)
    for row in rows:
        unit, target, direction = EXPECTED[row.metric]
        assert (row.component, row.unit, row.target, row.direction) == (
            "bus", unit, target, direction,
        )  # fmt: skip
        assert _positive(row.achieved), row
        assert row.min == row.max == row.achieved  # one repeat
        assert _positive(row.baseline), row  # every row has a same-run raw baseline
        assert _positive(row.ratio), row


def test_the_ratio_row_pairs_each_repeat_with_its_own_baseline() -> None:
    samples = {
        "batch": [50.0, 90.0, 60.0],
        "batch raw": [100.0, 100.0, 60.0],
        "gathered": [30.0, 40.0, 50.0],
        "gathered raw": [20.0, 40.0, 100.0],
        "tasks": [3.0],
        "tasks raw": [4.0],
        "single": [1.0],
        "single raw": [2.0],
        "e2e p50": [4.0],
        "e2e raw p50": [2.0],
        "e2e p99": [8.0],
        "e2e raw p99": [8.0],
        "rr": [5.0],
        "rr raw": [4.0],
    }

    rows = {row.metric: row for row in bus_rows(samples)}

    ratio = rows["publish_ratio_vs_raw"]
    assert (ratio.achieved, ratio.min, ratio.max) == (0.9, 0.5, 1.0)
    assert ratio.ratio == 0.9 and ratio.passed
    assert rows["publish_batch_throughput"].baseline == 100.0
    assert rows["e2e_latency_p50"].ratio == 0.5  # latency: baseline / achieved
    assert rows["publish_single_throughput"].ratio == 0.5
    gathered = rows["publish_gathered_ratio_vs_raw"]
    assert (gathered.achieved, gathered.min, gathered.max) == (1.0, 0.5, 1.5)
    assert rows["publish_tasks_ratio_vs_raw"].achieved == 0.75
    assert not rows["publish_tasks_ratio_vs_raw"].passed


def test_a_raw_value_has_the_size_asked_for_and_carries_its_send_time() -> None:
    value = raw_value(389, "tag1", 7)

    data = json.loads(value)
    assert len(value) == 389
    assert (data["tag"], data["seq"]) == ("tag1", 7)
    assert data["t"] > 1e9


def test_the_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)


@pytest.mark.parametrize("flag", ["--messages=0", "--requests=0", "--repeats=0", "--seconds=0"])
def test_sizes_below_one_are_refused(flag: str) -> None:
    with pytest.raises(SystemExit):
        parse_args([flag])
