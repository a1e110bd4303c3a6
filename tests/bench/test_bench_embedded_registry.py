"""The embedded registry benchmark runs end to end on SQLite and reports its four rows."""

from __future__ import annotations

from bench.embedded_registry import parse_args, run_bench


async def test_the_benchmark_measures_registration_discovery_and_heartbeats() -> None:
    args = parse_args([
        "--agents", "60", "--repeats", "1", "--queries", "10", "--heartbeats", "300",
        "--backend", "sqlite",
    ])  # fmt: skip

    rows = await run_bench(args)

    assert [(r.component, r.metric) for r in rows] == [
        ("embedded_sqlite", "register_gather"),
        ("embedded_sqlite", "register_many"),
        ("embedded_sqlite", "discovery_p50"),
        ("embedded_sqlite", "heartbeats"),
    ]
    assert all(r.achieved > 0 and r.baseline for r in rows)
