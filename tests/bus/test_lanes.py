"""The lane scheduler: urgent lanes first, in 8/4/2/1 shares, and no lane starves."""

from __future__ import annotations

from collections import Counter

import pytest

from bus.lanes import DEFAULT_WEIGHTS, LaneScheduler
from bus.message import Priority

ROUND = sum(DEFAULT_WEIGHTS.values())  # 15


def _picks(scheduler: LaneScheduler, waiting: list[int], count: int) -> list[Priority]:
    picks = []
    for _ in range(count):
        lane = scheduler.next(waiting)
        assert lane is not None
        picks.append(Priority(lane))
    return picks


def test_every_round_of_a_full_backlog_serves_8_4_2_1_urgent_first() -> None:
    scheduler = LaneScheduler()
    backlog = [1_000] * 4
    for _ in range(5):
        one_round = _picks(scheduler, backlog, ROUND)
        assert Counter(one_round) == {
            Priority.CRITICAL: 8,
            Priority.HIGH: 4,
            Priority.NORMAL: 2,
            Priority.LOW: 1,
        }
        assert one_round == sorted(one_round)  # within a round, most urgent first


def test_a_low_message_waits_at_most_one_round_behind_a_critical_flood() -> None:
    """A queue simulation: each lane holds 100 messages; LOW is served within 15 picks."""
    scheduler = LaneScheduler()
    waiting = [100, 100, 100, 100]
    served: list[int] = []
    while any(waiting):
        lane = scheduler.next(waiting)
        assert lane is not None
        waiting[lane] -= 1
        served.append(lane)
    assert len(served) == 400
    assert Priority.LOW in served[:ROUND]
    low_at = [i for i, lane in enumerate(served) if lane == Priority.LOW]
    assert max(b - a for a, b in zip([-1, *low_at], low_at, strict=False)) <= ROUND
    # CRITICAL still drains first: it is done before any other lane is.
    last = {lane: max(i for i, x in enumerate(served) if x == lane) for lane in range(4)}
    assert last[Priority.CRITICAL] < min(last[p] for p in (1, 2, 3))


def test_empty_lanes_are_skipped_and_the_rest_share_in_proportion() -> None:
    scheduler = LaneScheduler()
    picks = _picks(scheduler, [0, 50, 0, 50], 5 * 5)  # HIGH 4 + LOW 1 per round
    assert Counter(picks) == {Priority.HIGH: 20, Priority.LOW: 5}
    assert scheduler.next([0, 0, 0, 0]) is None


def test_a_lane_that_is_alone_is_served_every_time() -> None:
    scheduler = LaneScheduler()
    assert _picks(scheduler, [0, 0, 0, 3], 20) == [Priority.LOW] * 20


def test_custom_weights_and_invalid_weights() -> None:
    scheduler = LaneScheduler(
        {Priority.CRITICAL: 1, Priority.HIGH: 1, Priority.NORMAL: 1, Priority.LOW: 1}
    )
    assert _picks(scheduler, [9, 9, 9, 9], 8) == [0, 1, 2, 3, 0, 1, 2, 3]
    with pytest.raises(ValueError, match="every priority"):
        LaneScheduler({Priority.CRITICAL: 1})
    with pytest.raises(ValueError, match="at least 1"):
        LaneScheduler({p: 0 for p in Priority})
