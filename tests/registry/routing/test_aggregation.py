from __future__ import annotations

import math
import statistics
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.core.exceptions import AggregationError, RoutingError, ValidationError
from registry.routing.aggregation import AggregationResult, AggregationStrategy, Reply, aggregate


def _replies(*payloads: dict[str, Any]) -> list[Reply]:
    return [Reply(f"agent-{i}", payload) for i, payload in enumerate(payloads)]


def _numbers(*values: Any) -> list[Reply]:
    return _replies(*({"value": v} for v in values))


# --- whole-payload strategies -------------------------------------------------------------


def test_first_returns_the_first_payload_in_arrival_order() -> None:
    replies = _replies({"value": 3, "who": "a"}, {"value": 1, "who": "b"})
    result = aggregate(AggregationStrategy.FIRST, replies)
    assert result == AggregationResult(
        strategy=AggregationStrategy.FIRST,
        value={"value": 3, "who": "a"},
        responses=2,
        used=1,
        skipped={},
        by_agent={"agent-0": {"value": 3, "who": "a"}, "agent-1": {"value": 1, "who": "b"}},
        votes=None,
    )


def test_all_lists_every_payload_in_arrival_order() -> None:
    replies = [Reply("z", {"n": 1}), Reply("a", {"n": 2}), Reply("m", {})]
    result = aggregate("all", replies)
    assert result.strategy is AggregationStrategy.ALL
    assert result.value == [{"n": 1}, {"n": 2}, {}]
    assert (result.responses, result.used, result.skipped) == (3, 3, {})
    assert list(result.by_agent) == ["z", "a", "m"]
    assert result.by_agent["a"] == {"n": 2}


def test_merge_overrides_in_arrival_order_and_merges_nested_dicts() -> None:
    first = {"a": 1, "b": {"x": 1, "y": {"deep": 1, "keep": True}}, "l": [1, 2]}
    second = {"a": 2, "b": {"y": {"deep": 2}, "z": 3}, "l": [3]}
    third = {"b": {"x": "over"}, "c": None}
    result = aggregate(AggregationStrategy.MERGE, _replies(first, second, third))
    assert result.value == {
        "a": 2,
        "b": {"x": "over", "y": {"deep": 2, "keep": True}, "z": 3},
        "l": [3],
        "c": None,
    }
    assert result.used == 3
    # the inputs are untouched
    assert first == {"a": 1, "b": {"x": 1, "y": {"deep": 1, "keep": True}}, "l": [1, 2]}
    assert second == {"a": 2, "b": {"y": {"deep": 2}, "z": 3}, "l": [3]}


def test_merge_replaces_a_dict_with_a_scalar_and_a_scalar_with_a_dict() -> None:
    result = aggregate("merge", _replies({"k": {"x": 1}, "s": 1}, {"k": 5, "s": {"y": 2}}))
    assert result.value == {"k": 5, "s": {"y": 2}}


# --- numeric strategies -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (AggregationStrategy.AVERAGE, 2.5),
        (AggregationStrategy.MEDIAN, 2.5),
        (AggregationStrategy.SUM, 10.0),
        (AggregationStrategy.MIN, 1),
        (AggregationStrategy.MAX, 4),
    ],
)
def test_numeric_strategies(strategy: AggregationStrategy, expected: float) -> None:
    result = aggregate(strategy, _numbers(4, 1, 3.0, 2))
    assert result.value == expected
    assert (result.responses, result.used, result.skipped, result.votes) == (4, 4, {}, None)


def test_median_of_an_odd_count_is_the_middle_value() -> None:
    assert aggregate("median", _numbers(9, 1, 5)).value == 5


def test_min_and_max_return_the_value_as_sent() -> None:
    assert aggregate("min", _numbers(2.0, 7, 2)).value == 2.0
    assert isinstance(aggregate("min", _numbers(2.0, 7, 2)).value, float)
    assert isinstance(aggregate("max", _numbers(2.0, 7, 2)).value, int)


def test_sum_and_average_use_fsum() -> None:
    values = [0.1] * 10
    assert aggregate("sum", _numbers(*values)).value == 1.0
    assert aggregate("average", _numbers(1e100, 1.0, -1e100)).value == pytest.approx(1 / 3)


def test_numeric_strategies_skip_missing_non_numeric_bool_and_non_finite_values() -> None:
    replies = [
        Reply("ok1", {"value": 10}),
        Reply("missing", {"other": 1}),
        Reply("text", {"value": "abc"}),
        Reply("flag", {"value": True}),
        Reply("nan", {"value": math.nan}),
        Reply("inf", {"value": -math.inf}),
        Reply("none", {"value": None}),
        Reply("listy", {"value": [1]}),
        Reply("ok2", {"value": 20.0}),
    ]
    result = aggregate(AggregationStrategy.AVERAGE, replies)
    assert result.value == 15.0
    assert (result.responses, result.used) == (9, 2)
    assert result.skipped == {
        "missing": "no field 'value'",
        "text": "field 'value' is not a number ('abc')",
        "flag": "field 'value' is not a number (True)",
        "nan": "field 'value' is not a finite number (nan)",
        "inf": "field 'value' is not a finite number (-inf)",
        "none": "field 'value' is not a number (None)",
        "listy": "field 'value' is not a number ([1])",
    }
    assert len(result.by_agent) == 9
    assert result.by_agent["text"] == {"value": "abc"}


def test_bools_are_never_counted_as_numbers() -> None:
    result = aggregate("sum", _numbers(True, True, 5))
    assert result.value == 5.0
    assert result.used == 1
    assert set(result.skipped) == {"agent-0", "agent-1"}


def test_a_long_bad_value_is_shortened_in_the_reason() -> None:
    result = aggregate("max", _replies({"value": "x" * 500}, {"value": 1}))
    reason = result.skipped["agent-0"]
    assert reason.startswith("field 'value' is not a number ('xxx")
    assert reason.endswith("...)")
    assert len(reason) < 100


def test_an_int_too_large_for_a_float_is_skipped() -> None:
    result = aggregate("average", _numbers(10**400, 4))
    assert result.value == 4.0
    assert result.skipped["agent-0"].startswith("field 'value' is not a finite number (")


def test_average_of_huge_values_does_not_overflow() -> None:
    assert aggregate("average", _numbers(1e308, 1e308)).value == 1e308


def test_a_sum_that_overflows_is_an_aggregation_error() -> None:
    with pytest.raises(AggregationError, match=r"'sum'.*'value'.*2 replies"):
        aggregate("sum", _numbers(1e308, 1e308))


# --- dotted fields ------------------------------------------------------------------------


def test_a_dotted_field_walks_nested_dicts() -> None:
    replies = [
        Reply("a", {"result": {"co2e_kg": 12.5}}),
        Reply("b", {"result": {"co2e_kg": 7.5, "unit": "kg"}}),
        Reply("c", {"result": 3}),
        Reply("d", {"result": {"co2e": 1}}),
        Reply("e", {"result.co2e_kg": 100}),
    ]
    result = aggregate("sum", replies, field="result.co2e_kg")
    assert result.value == 20.0
    assert result.used == 2
    assert result.skipped == {
        "c": "no field 'result.co2e_kg'",
        "d": "no field 'result.co2e_kg'",
        "e": "no field 'result.co2e_kg'",
    }


def test_a_custom_field_name_is_read() -> None:
    result = aggregate("max", _replies({"score": 0.2, "value": 99}, {"score": 0.9}), field="score")
    assert result.value == 0.9
    assert result.skipped == {}


@pytest.mark.parametrize("bad", ["", ".", "a.", ".a", "a..b", "x" * 201])
def test_a_malformed_field_is_a_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        aggregate("average", _numbers(1), field=bad)
    assert caught.value.errors[0]["field"] == "field"
    assert caught.value.errors[0]["problem"]


def test_a_field_of_200_characters_is_accepted() -> None:
    name = "f" * 200
    assert aggregate("sum", _replies({name: 2}), field=name).value == 2.0


def test_a_field_that_is_not_a_string_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        aggregate("sum", _numbers(1), field=3)  # type: ignore[arg-type]
    assert caught.value.errors[0]["field"] == "field"


# --- majority vote ------------------------------------------------------------------------


def test_majority_vote_picks_the_most_common_value_and_counts_votes() -> None:
    replies = _replies(
        {"value": "B"}, {"value": "A"}, {"value": "A"}, {"value": "C"}, {"value": "A"}, {}
    )
    result = aggregate(AggregationStrategy.MAJORITY_VOTE, replies)
    assert result.value == "A"
    assert result.votes == {'"B"': 1, '"A"': 3, '"C"': 1}
    assert (result.responses, result.used) == (6, 5)
    assert result.skipped == {"agent-5": "no field 'value'"}


def test_a_tied_vote_goes_to_the_value_that_arrived_first() -> None:
    result = aggregate("majority_vote", _numbers("y", "x", "x", "y", "z"))
    assert result.value == "y"
    assert result.votes == {'"y"': 2, '"x"': 2, '"z"': 1}
    reordered = aggregate("majority_vote", _numbers("x", "y", "y", "x", "z"))
    assert reordered.value == "x"


def test_votes_compare_lists_and_dicts_by_canonical_json() -> None:
    replies = _numbers({"b": 1, "a": [1, 2]}, [1, 2], {"a": [1, 2], "b": 1}, [2, 1])
    result = aggregate("majority_vote", replies)
    assert result.value == {"b": 1, "a": [1, 2]}
    assert result.votes == {'{"a": [1, 2], "b": 1}': 2, "[1, 2]": 1, "[2, 1]": 1}


def test_votes_keep_one_true_and_one_point_zero_apart() -> None:
    result = aggregate("majority_vote", _numbers(1, True, 1.0, True, None))
    assert result.value is True
    assert result.votes == {"1": 1, "true": 2, "1.0": 1, "null": 1}
    assert result.used == 5


def test_a_vote_on_a_dotted_field() -> None:
    replies = _replies({"r": {"label": "low"}}, {"r": {"label": "high"}}, {"r": {"label": "high"}})
    assert aggregate("majority_vote", replies, field="r.label").value == "high"


def test_a_value_that_is_not_json_is_skipped_from_the_vote() -> None:
    result = aggregate("majority_vote", _numbers({1, 2}, "ok"))
    assert result.value == "ok"
    assert result.skipped == {"agent-0": "field 'value' is not JSON ({1, 2})"}


def test_a_vote_without_any_field_is_an_aggregation_error() -> None:
    with pytest.raises(AggregationError) as caught:
        aggregate("majority_vote", _replies({"x": 1}, {"y": 2}), field="label")
    message = str(caught.value)
    assert "'majority_vote'" in message
    assert "'label'" in message
    assert "2 replies" in message


# --- custom -------------------------------------------------------------------------------


def test_custom_receives_the_replies_as_a_list() -> None:
    seen: list[list[Reply]] = []

    def longest_name(replies: list[Reply]) -> str:
        seen.append(replies)
        return max((reply.agent_id for reply in replies), key=len)

    replies = (Reply("ab", {}), Reply("abcd", {"v": 1}), Reply("c", {}))
    result = aggregate(AggregationStrategy.CUSTOM, replies, custom=longest_name)
    assert result.value == "abcd"
    assert (result.responses, result.used, result.skipped) == (3, 3, {})
    assert seen == [list(replies)]
    assert isinstance(seen[0], list)


def test_custom_errors_propagate() -> None:
    def broken(replies: list[Reply]) -> Any:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        aggregate("custom", _numbers(1), custom=broken)


def test_custom_without_a_callable_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        aggregate("custom", _numbers(1))
    assert caught.value.errors[0]["field"] == "custom"
    with pytest.raises(ValidationError) as caught:
        aggregate("custom", _numbers(1), custom="lambda r: 1")  # type: ignore[arg-type]
    assert caught.value.errors[0]["field"] == "custom"


def test_custom_with_another_strategy_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        aggregate("average", _numbers(1), custom=lambda replies: 0)
    assert caught.value.errors[0]["field"] == "custom"
    assert "average" in str(caught.value)


# --- strategy names and empty input ---------------------------------------------------------


def test_a_strategy_may_be_given_by_its_value_in_any_case() -> None:
    assert aggregate("Average", _numbers(1, 3)).strategy is AggregationStrategy.AVERAGE
    assert aggregate(" MAJORITY_VOTE ", _numbers(1)).strategy is AggregationStrategy.MAJORITY_VOTE


@pytest.mark.parametrize("bad", ["mean", "", 3, None])
def test_an_unknown_strategy_is_a_validation_error_listing_the_allowed_ones(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        aggregate(bad, _numbers(1))
    assert caught.value.errors[0]["field"] == "aggregation_strategy"
    message = str(caught.value)
    for strategy in AggregationStrategy:
        assert strategy.value in message


@pytest.mark.parametrize("strategy", list(AggregationStrategy))
def test_no_replies_is_an_aggregation_error(strategy: AggregationStrategy) -> None:
    custom = (lambda replies: None) if strategy is AggregationStrategy.CUSTOM else None
    with pytest.raises(AggregationError, match="no replies to aggregate"):
        aggregate(strategy, [], custom=custom)


@pytest.mark.parametrize(
    "strategy", ["average", "median", "sum", "min", "max"], ids=lambda s: str(s)
)
def test_no_numeric_reply_is_an_aggregation_error_naming_strategy_field_and_count(
    strategy: str,
) -> None:
    replies = _replies({"co2": "n/a"}, {"co2": False}, {"other": 1})
    with pytest.raises(AggregationError) as caught:
        aggregate(strategy, replies, field="co2")
    message = str(caught.value)
    assert f"'{strategy}'" in message
    assert "'co2'" in message
    assert "3 replies" in message


def test_aggregation_error_is_a_routing_error() -> None:
    assert issubclass(AggregationError, RoutingError)


# --- properties ---------------------------------------------------------------------------

_finite = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
)
_noise = st.one_of(st.text(max_size=3), st.booleans(), st.none())


@settings(max_examples=60)
@given(st.lists(st.one_of(_finite, _noise), min_size=1, max_size=12))
def test_numeric_strategies_agree_with_the_standard_library(values: list[Any]) -> None:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    replies = _numbers(*values)
    if not numbers:
        with pytest.raises(AggregationError):
            aggregate("sum", replies)
        return
    assert aggregate("sum", replies).value == math.fsum(numbers)
    assert aggregate("average", replies).value == math.fsum(numbers) / len(numbers)
    assert aggregate("median", replies).value == statistics.median(numbers)
    assert aggregate("min", replies).value == min(numbers)
    assert aggregate("max", replies).value == max(numbers)
    result = aggregate("max", replies)
    assert result.used == len(numbers)
    assert result.used + len(result.skipped) == result.responses == len(values)


@settings(max_examples=60)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=15))
def test_the_vote_winner_has_the_most_votes_and_arrived_first_among_ties(
    labels: list[str],
) -> None:
    result = aggregate("majority_vote", _numbers(*labels))
    top = max(labels.count(label) for label in labels)
    assert labels.count(result.value) == top
    assert result.value == next(label for label in labels if labels.count(label) == top)
    assert sum((result.votes or {}).values()) == len(labels)
