"""The reliability figures: what each fault or hostile-input test ran, injected and lost.

Tests record their measured counts through the ``reliability_figures`` fixture; at the end of
the run pytest prints one table of them (and totals), and stores them as JSON in the pytest
cache (``.pytest_cache/v/reliability/figures``) for the issue's closing note.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pytest

__all__ = ["Figures", "Row", "figures", "summary_lines"]

KEY = pytest.StashKey["Figures"]()
CACHE_KEY = "reliability/figures"


@dataclass(frozen=True)
class Row:
    """One scenario's counts, as measured by its test (before its assertions ran)."""

    scenario: str
    trials: int
    """Units of work run under faults: sagas, swarms, registrations, requests, definitions."""
    faults: int
    """Faults injected: kills, restarts, outages, hostile inputs."""
    lost: int
    """Work or effects that should exist and do not."""
    duplicated: int
    """Effects applied more than once."""
    note: str = ""


class Figures:
    """The rows recorded during this pytest session."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def record(
        self,
        scenario: str,
        *,
        trials: int,
        faults: int,
        lost: int = 0,
        duplicated: int = 0,
        note: str = "",
    ) -> None:
        """Add a scenario's counts; a scenario recorded again (one per example) adds up."""
        for n, row in enumerate(self.rows):
            if row.scenario == scenario:
                self.rows[n] = Row(
                    scenario,
                    row.trials + trials,
                    row.faults + faults,
                    row.lost + lost,
                    row.duplicated + duplicated,
                    note or row.note,
                )
                return
        self.rows.append(Row(scenario, trials, faults, lost, duplicated, note))

    def as_json(self) -> list[dict[str, object]]:
        return [asdict(row) for row in self.rows]


def figures(config: pytest.Config) -> Figures:
    """This session's figures (for tests that cannot take the function-scoped fixture)."""
    return config.stash.setdefault(KEY, Figures())


def summary_lines(rows: list[Row]) -> list[str]:
    """The table printed at the end of a run."""
    width = max(len("total"), *(len(r.scenario) for r in rows))
    header = f"{'scenario':<{width}}  {'trials':>7}  {'faults':>7}  {'lost':>5}  {'dup':>5}  note"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.scenario:<{width}}  {r.trials:>7}  {r.faults:>7}  {r.lost:>5}  "
            f"{r.duplicated:>5}  {r.note}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'total':<{width}}  {sum(r.trials for r in rows):>7}  "
        f"{sum(r.faults for r in rows):>7}  {sum(r.lost for r in rows):>5}  "
        f"{sum(r.duplicated for r in rows):>5}"
    )
    return lines
