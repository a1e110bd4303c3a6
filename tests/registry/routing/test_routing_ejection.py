from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration.core.exceptions import ValidationError
from registry.routing import OutlierDetector, without_ejected
from tests.registry.routing.support import loaded


def _fail(detector: OutlierDetector, agent_id: str, now: float, times: int) -> bool:
    return any([detector.record_failure(agent_id, now) for _ in range(times)])


def _known(detector: OutlierDetector, *agent_ids: str) -> None:
    for agent_id in agent_ids:
        detector.record_success(agent_id, 0.0)


def test_an_agent_is_ejected_after_enough_consecutive_failures() -> None:
    detector = OutlierDetector(consecutive_failures=5)
    _known(detector, "a", "b")
    assert not _fail(detector, "a", 1.0, 4)
    assert not detector.is_ejected("a", 1.0)
    assert detector.record_failure("a", 1.0)
    assert detector.is_ejected("a", 1.0)
    assert detector.ejected(1.0) == {"a"}


def test_a_success_breaks_the_run_of_failures() -> None:
    detector = OutlierDetector(consecutive_failures=3)
    _known(detector, "a", "b")
    _fail(detector, "a", 1.0, 2)
    detector.record_success("a", 2.0)
    assert not _fail(detector, "a", 3.0, 2)
    assert detector.ejected(3.0) == set()


def test_an_ejected_agent_returns_when_its_time_is_up() -> None:
    detector = OutlierDetector(consecutive_failures=1, base_ejection_s=30)
    _known(detector, "a", "b")
    detector.record_failure("a", 100.0)
    assert detector.is_ejected("a", 129.9)
    assert not detector.is_ejected("a", 130.0)
    assert detector.ejected(130.0) == set()


def test_repeated_ejections_last_longer_up_to_the_maximum() -> None:
    detector = OutlierDetector(consecutive_failures=1, base_ejection_s=30, max_ejection_s=100)
    _known(detector, "a", "b")
    now = 0.0
    lengths = []
    for _ in range(5):
        assert detector.record_failure("a", now)
        start = now
        while detector.is_ejected("a", now):
            now += 1.0
        lengths.append(now - start)
    assert lengths == [30, 60, 90, 100, 100]


def test_a_long_healthy_stretch_forgives_past_ejections() -> None:
    detector = OutlierDetector(consecutive_failures=1, base_ejection_s=30, max_ejection_s=100)
    _known(detector, "a", "b")
    detector.record_failure("a", 0.0)  # back at 30
    detector.record_success("a", 129.0)  # not yet 100 s back
    detector.record_failure("a", 129.0)  # second ejection: 60 s
    assert detector.is_ejected("a", 188.0)
    assert not detector.is_ejected("a", 189.0)
    detector.record_success("a", 289.0)  # 100 s back: forgiven
    detector.record_failure("a", 290.0)
    assert detector.is_ejected("a", 319.0)
    assert not detector.is_ejected("a", 320.0)


def test_failures_while_ejected_do_not_extend_the_ejection() -> None:
    detector = OutlierDetector(consecutive_failures=2, base_ejection_s=30)
    _known(detector, "a", "b")
    _fail(detector, "a", 0.0, 2)
    assert not _fail(detector, "a", 10.0, 10)
    assert not detector.is_ejected("a", 30.0)
    assert not detector.record_failure("a", 30.0)  # the run starts again after return


def test_a_global_outage_ejects_at_most_the_max_fraction() -> None:
    detector = OutlierDetector(consecutive_failures=1, max_ejected_fraction=0.5)
    fleet = [f"agent-{i}" for i in range(5)]
    _known(detector, *fleet)
    for agent_id in fleet:
        _fail(detector, agent_id, 1.0, 3)
    assert len(detector.ejected(1.0)) == 2


def test_a_lone_agent_is_never_ejected() -> None:
    detector = OutlierDetector(consecutive_failures=1)
    assert not _fail(detector, "only", 0.0, 20)
    assert detector.ejected(0.0) == set()


def test_an_agent_refused_by_the_cap_is_ejected_once_there_is_room() -> None:
    detector = OutlierDetector(consecutive_failures=3, base_ejection_s=30)
    _known(detector, "a", "b")
    _fail(detector, "a", 0.0, 3)
    assert not _fail(detector, "b", 1.0, 3)
    assert detector.ejected(1.0) == {"a"}
    assert detector.record_failure("b", 30.0)
    assert detector.ejected(30.0) == {"b"}


@given(
    n=st.integers(1, 8),
    fraction=st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0]),
    events=st.lists(st.tuples(st.integers(0, 7), st.booleans(), st.floats(0, 20)), max_size=120),
)
def test_the_ejected_share_never_exceeds_the_cap(
    n: int, fraction: float, events: list[tuple[int, bool, float]]
) -> None:
    detector = OutlierDetector(
        consecutive_failures=2, base_ejection_s=15, max_ejected_fraction=fraction
    )
    fleet = [f"agent-{i}" for i in range(n)]
    _known(detector, *fleet)
    now = 0.0
    for index, failed, step in events:
        now += step
        agent_id = fleet[index % n]
        if failed:
            detector.record_failure(agent_id, now)
        else:
            detector.record_success(agent_id, now)
        ejected = detector.ejected(now)
        assert len(ejected) <= math.floor(fraction * n + 1e-9)
        assert all(detector.is_ejected(a, now) for a in ejected)


def test_forgetting_an_agent_clears_its_ejection() -> None:
    detector = OutlierDetector(consecutive_failures=1)
    _known(detector, "a", "b")
    detector.record_failure("a", 0.0)
    detector.forget("a")
    assert not detector.is_ejected("a", 0.0)
    assert detector.ejected(0.0) == set()


@pytest.mark.parametrize(
    "settings",
    [
        {"consecutive_failures": 0},
        {"base_ejection_s": 0},
        {"base_ejection_s": 60, "max_ejection_s": 30},
        {"max_ejected_fraction": 1.5},
    ],
)
def test_the_detector_rejects_settings_that_cannot_work(settings: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        OutlierDetector(**settings)  # type: ignore[arg-type]


def test_without_ejected_drops_ejected_candidates_unless_none_would_remain() -> None:
    healthy, ejected = loaded("healthy"), loaded("ejected", ejected=True)
    assert list(without_ejected([ejected, healthy])) == [healthy]
    assert list(without_ejected([ejected])) == [ejected]
    assert list(without_ejected([])) == []
