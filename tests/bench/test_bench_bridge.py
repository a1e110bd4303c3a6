"""The bridge benchmark runs end to end at a tiny size and reports its two rows."""

from __future__ import annotations

import argparse

from bench.bridge import _readings, measure


def test_readings_spread_evenly_over_the_facilities() -> None:
    readings = _readings(workflows=3, messages=7)
    assert [m.payload["facility_id"] for m in readings] == ["f0", "f1", "f2"] * 2 + ["f0"]


async def test_the_benchmark_measures_both_rows() -> None:
    rows = await measure(argparse.Namespace(workflows=2, messages=6, repeats=1))
    assert [(r.metric, r.unit) for r in rows] == [
        ("bridge_signals_per_s", "signals/s"),
        ("bridge_ratio_vs_direct", "ratio"),
    ]
    assert all(r.achieved > 0 and r.baseline for r in rows)
    assert rows[1].target == 0.9
