from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestration.core.exceptions import ValidationError
from registry.health.plan import plan_health_check
from registry.health.policy import (
    HealthPolicy,
    assess,
    freshness,
    health_score,
    metrics_score,
    should_pause_eviction,
    status_for,
)
from registry.models import AgentStatus
from registry.records import HeartbeatMetrics

POLICY = HealthPolicy(
    heartbeat_interval_s=10, health_check_interval_s=20, deregistration_timeout_s=100
)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_healthy_heartbeat_scores_one() -> None:
    metrics = HeartbeatMetrics(cpu_usage=0.45, error_rate=0.0, response_time_ms=234)

    assert metrics_score(metrics) == 1.0
    assert health_score(metrics, T0, at(5), POLICY) == 1.0


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        # cpu 85 %: h_cpu = 1 - 0.15/0.3 = 0.5 -> 0.2*0.5 + 0.5 + 0.3
        (HeartbeatMetrics(cpu_usage=0.85), 0.9),
        # errors 10 %: h_err = 1 - 0.1/0.25 = 0.6 -> 0.2 + 0.5*0.6 + 0.3
        (HeartbeatMetrics(error_rate=0.1), 0.8),
        # 2,750 ms: h_rt = 1 - 2250/4500 = 0.5 -> 0.2 + 0.5 + 0.3*0.5
        (HeartbeatMetrics(response_time_ms=2750), 0.85),
        # everything at its worst
        (HeartbeatMetrics(cpu_usage=1.0, error_rate=0.5, response_time_ms=9000), 0.0),
        # never heartbeated, or reported nothing
        (None, 1.0),
        (HeartbeatMetrics(), 1.0),
    ],
)
def test_the_metrics_score_follows_the_documented_formula(
    metrics: HeartbeatMetrics | None, expected: float
) -> None:
    assert metrics_score(metrics) == pytest.approx(expected)


def test_freshness_stays_full_until_an_agent_is_late_then_decays_to_zero_at_the_timeout() -> None:
    assert freshness(0, POLICY) == 1.0
    assert freshness(15, POLICY) == 1.0
    assert freshness(57.5, POLICY) == pytest.approx(0.5)
    assert freshness(100, POLICY) == 0.0
    assert freshness(1000, POLICY) == 0.0


def test_health_is_the_metrics_score_times_freshness() -> None:
    metrics = HeartbeatMetrics(error_rate=0.1)  # 0.8

    assert health_score(metrics, T0, at(57.5), POLICY) == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("health", "silent_s", "expected"),
    [
        (1.0, 0, AgentStatus.ACTIVE),
        (0.7, 15, AgentStatus.ACTIVE),
        (0.69, 0, AgentStatus.DEGRADED),
        (1.0, 15.1, AgentStatus.DEGRADED),
        (0.3, 0, AgentStatus.DEGRADED),
        (0.29, 0, AgentStatus.INACTIVE),
        (1.0, 30.1, AgentStatus.INACTIVE),
        (1.0, 100.1, AgentStatus.DEREGISTERED),
    ],
)
def test_status_thresholds(health: float, silent_s: float, expected: AgentStatus) -> None:
    assert status_for(health, silent_s, POLICY) is expected


def test_an_agent_walks_the_lifecycle_as_it_goes_silent_and_is_active_again_after_a_heartbeat() -> (
    None
):
    metrics = HeartbeatMetrics(cpu_usage=0.3, error_rate=0.0, response_time_ms=100)
    last_heartbeat = T0

    seen = [assess(metrics, last_heartbeat, at(s), POLICY).status for s in (5, 20, 35, 101)]
    recovered = assess(metrics, at(102), at(103), POLICY)

    assert seen == [
        AgentStatus.ACTIVE,
        AgentStatus.DEGRADED,
        AgentStatus.INACTIVE,
        AgentStatus.DEREGISTERED,
    ]
    assert recovered.status is AgentStatus.ACTIVE
    assert recovered.health == 1.0


def test_a_heartbeat_from_the_future_counts_as_just_now() -> None:
    assessment = assess(None, at(60), T0, POLICY)

    assert assessment.silent_s == 0
    assert assessment.status is AgentStatus.ACTIVE


@pytest.mark.parametrize(
    ("total", "silent", "paused"),
    [
        (10, 6, True),
        (10, 5, False),  # exactly half is not "more than half"
        (10, 0, False),
        (4, 3, True),
        (2, 2, False),  # too few to tell a partition from deaths
        (1, 1, False),
        (0, 0, False),
    ],
)
def test_eviction_pauses_only_when_most_agents_go_silent_at_once(
    total: int, silent: int, paused: bool
) -> None:
    assert should_pause_eviction(total, silent) is paused


def test_the_self_preservation_threshold_is_adjustable_and_checked() -> None:
    assert should_pause_eviction(10, 4, threshold=0.3)
    with pytest.raises(ValidationError) as caught:
        should_pause_eviction(10, 4, threshold=1.5)
    assert caught.value.errors[0]["field"] == "threshold"


def test_a_health_check_plan_holds_back_eviction_when_most_agents_are_silent() -> None:
    silent = {f"a{i}": assess(None, T0, at(150), POLICY) for i in range(3)}
    alive = {"b": assess(None, at(149), at(150), POLICY)}

    plan = plan_health_check({**silent, **alive}, POLICY)

    assert plan.due == ("a0", "a1", "a2")
    assert plan.silent == 3
    assert plan.eviction_paused


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"heartbeat_interval_s": 0}, "heartbeat_interval_s"),
        ({"health_check_interval_s": -1}, "health_check_interval_s"),
        ({"heartbeat_interval_s": 30, "deregistration_timeout_s": 45}, "deregistration_timeout_s"),
    ],
)
def test_an_impossible_policy_names_the_field(fields: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HealthPolicy(**fields)
    assert caught.value.errors[0]["field"] == field


def test_the_default_policy_is_the_quick_references() -> None:
    policy = HealthPolicy()

    assert (policy.heartbeat_interval_s, policy.health_check_interval_s) == (30, 60)
    assert policy.deregistration_timeout_s == 300
