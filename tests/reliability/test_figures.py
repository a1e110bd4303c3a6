"""The figures table: rows add up per scenario and the totals are the sums."""

from __future__ import annotations

from tests.reliability.figures import Figures, summary_lines


def test_a_scenario_recorded_per_example_adds_up_and_totals_sum_every_row() -> None:
    figures = Figures()
    for valid in (True, False, False):
        figures.record("definitions", trials=1, faults=int(not valid), note="refused")
    figures.record("kills", trials=50, faults=5, lost=1, duplicated=2)
    assert [(r.scenario, r.trials, r.faults, r.lost, r.duplicated) for r in figures.rows] == [
        ("definitions", 3, 2, 0, 0),
        ("kills", 50, 5, 1, 2),
    ]
    total = summary_lines(figures.rows)[-1].split()
    assert total == ["total", "53", "7", "1", "2"]
    assert figures.as_json()[0]["note"] == "refused"
