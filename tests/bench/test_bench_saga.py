"""The saga benchmark runs end to end at a tiny size and reports every row, routed ones too."""

from __future__ import annotations

import argparse

import pytest

from bench.saga import run_bench

pytestmark = pytest.mark.slow


async def test_the_benchmark_measures_fixed_routed_and_compensated_sagas() -> None:
    rows = await run_bench(argparse.Namespace(sagas=4, repeats=1, concurrency=2, timeout=120.0))
    assert [r.metric for r in rows] == [
        "throughput",
        "ratio_to_hand_written",
        "routed_throughput",
        "routed_ratio_to_fixed",
        "compensation_success",
    ]
    assert all(r.achieved > 0 for r in rows)
    assert rows[-1].achieved == 100
