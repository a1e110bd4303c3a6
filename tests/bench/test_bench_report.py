"""The maths every benchmark relies on: median/min/max, target direction, ratio, pass/fail."""

from __future__ import annotations

import io
import json
import math

import pytest

from bench.report import (
    AT_LEAST,
    AT_MOST,
    Row,
    Target,
    exit_status,
    format_value,
    machine,
    print_report,
    ratio,
)

JSON_KEYS = {
    "component", "metric", "unit", "target", "achieved",
    "min", "max", "baseline", "ratio", "passed",
}  # fmt: skip


def throughput(samples: list[float], *, baseline: float | None = None) -> Row:
    return Row.from_samples(
        "saga", "throughput", "sagas/min", samples,
        target=Target(1000, AT_LEAST), baseline=baseline,
    )  # fmt: skip


def latency(samples: list[float], *, baseline: float | None = None) -> Row:
    return Row.from_samples(
        "bus", "p99", "ms", samples, target=Target(50, AT_MOST), baseline=baseline
    )


def test_achieved_is_the_median_and_min_max_the_extremes() -> None:
    row = throughput([1300.0, 900.0, 1100.0])
    assert (row.achieved, row.min, row.max) == (1100.0, 900.0, 1300.0)


def test_an_even_number_of_samples_takes_the_mean_of_the_middle_two() -> None:
    assert throughput([1.0, 4.0, 2.0, 3.0]).achieved == 2.5


def test_a_single_sample_is_its_own_median_min_and_max() -> None:
    row = throughput([1234.0])
    assert row.achieved == row.min == row.max == 1234.0


def test_at_least_passes_on_the_threshold_and_fails_below_it() -> None:
    assert throughput([1000.0]).passed
    assert not throughput([999.9]).passed


def test_at_most_passes_on_the_threshold_and_fails_above_it() -> None:
    assert latency([50.0]).passed
    assert not latency([50.1]).passed


def test_pass_fail_follows_the_median_not_the_best_sample() -> None:
    assert not throughput([5000.0, 10.0, 20.0]).passed
    assert latency([10.0, 20.0, 900.0]).passed


def test_ratio_divides_achieved_by_baseline_when_higher_is_better() -> None:
    assert throughput([900.0], baseline=1200.0).ratio == pytest.approx(0.75)
    assert ratio(900.0, 1200.0, AT_LEAST) == pytest.approx(0.75)


def test_ratio_divides_baseline_by_achieved_when_lower_is_better() -> None:
    # Half the baseline's latency is twice as good: above 1 always means better.
    assert latency([10.0], baseline=20.0).ratio == pytest.approx(2.0)
    assert ratio(10.0, 20.0, AT_MOST) == pytest.approx(2.0)


def test_ratio_is_none_without_a_baseline_or_with_a_zero_denominator() -> None:
    assert throughput([900.0]).ratio is None
    assert ratio(900.0, 0.0, AT_LEAST) is None
    assert ratio(0.0, 20.0, AT_MOST) is None


def test_an_explicit_ratio_replaces_the_computed_one() -> None:
    row = Row.from_samples(
        "saga", "ratio_to_hand_written", "x", [0.9, 0.8, 0.85],
        target=Target(0.8), baseline=1500.0, ratio_value=0.85,
    )  # fmt: skip
    assert row.ratio == 0.85
    assert row.baseline == 1500.0
    assert row.passed


def test_an_unmeasurable_sample_fails_the_row_and_serialises_as_null() -> None:
    row = throughput([1200.0, math.nan])
    assert not row.passed
    data = row.as_dict()
    assert data["achieved"] is None and data["min"] is None and data["max"] is None


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        throughput([])


def test_an_unknown_direction_is_rejected() -> None:
    with pytest.raises(ValueError, match="direction"):
        Target(1.0, "==")  # type: ignore[arg-type]


def test_exit_status_is_non_zero_when_any_row_failed_or_there_are_none() -> None:
    good, bad = throughput([1500.0]), throughput([10.0])
    assert exit_status([good, good]) == 0
    assert exit_status([good, bad]) == 1
    assert exit_status([]) == 1


def test_json_output_is_a_list_of_rows_with_exactly_the_design_keys() -> None:
    out, err = io.StringIO(), io.StringIO()
    print_report([throughput([1500.0], baseline=1600.0)], as_json=True, title="t", out=out, err=err)
    rows = json.loads(out.getvalue())
    assert isinstance(rows, list)
    assert set(rows[0]) == JSON_KEYS
    assert rows[0]["passed"] is True
    assert "machine:" in err.getvalue()


def test_the_table_shows_direction_spread_and_verdict() -> None:
    out = io.StringIO()
    rows = [throughput([900.0, 1100.0, 1000.0], baseline=1250.0), latency([80.0])]
    print_report(rows, as_json=False, title="bench", out=out)
    text = out.getvalue()
    assert ">= 1,000 sagas/min" in text
    assert "1,000 (900\u20131,100)" in text
    assert "0.80x" in text
    assert "PASS" in text and "FAIL" in text


def test_machine_names_cores_python_and_library_versions() -> None:
    info = machine()
    assert {"cores", "memory_gib", "python", "temporalio", "aiokafka", "platform"} <= set(info)
    assert info["temporalio"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1234.4, "1,234"), (12.34, "12.3"), (1.234, "1.23"), (0.8734, "0.873"), (100.0, "100")],
)
def test_values_are_shown_with_precision_that_suits_their_size(value: float, shown: str) -> None:
    assert format_value(value) == shown
