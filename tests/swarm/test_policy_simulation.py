"""Every policy driven through whole jobs by the simulator, as the workflow will drive it.

The scenario: 100 partitions x 100 items over 10 agents at 100 items/s, except one 5x slower
(agent-03) and one failing every assignment (agent-00). Only robust outcomes are asserted:
every partition completes exactly once, failed partitions are retried elsewhere, and SWARMING
and MIGRATING finish no later than ROUND_ROBIN (the simulator is deterministic).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarm.policies import make_policy
from swarm.scheduling import PolicyConfig, SwarmBehavior
from tests.swarm.helpers import ALL_BEHAVIORS, SCENARIO_AGENTS, SCENARIO_PARTITIONS
from tests.swarm.simulator import SimAgent, SimPartition, SimResult, simulate

FAILING = "agent-00"
TICKS = [None, 1.0]
"""Rounds only after completions (as ``SwarmWorkflow`` does today), or also on a 1 s timer."""

_RUNS: dict[tuple[SwarmBehavior, float | None], SimResult] = {}


def scenario(behavior: SwarmBehavior, tick_s: float | None) -> SimResult:
    """The scenario's run for ``behavior`` (computed once per module)."""
    if (behavior, tick_s) not in _RUNS:
        config = PolicyConfig()
        _RUNS[behavior, tick_s] = simulate(
            make_policy(behavior, config),
            SCENARIO_AGENTS,
            SCENARIO_PARTITIONS,
            config=config,
            seed=11,
            tick_s=tick_s,
        )
    return _RUNS[behavior, tick_s]


def assert_completed_once(result: SimResult, partitions: list[SimPartition]) -> None:
    assert sorted(result.winners) == [p.partition_id for p in partitions]
    assert set(result.counted.values()) == {1}


@pytest.mark.parametrize("tick_s", TICKS)
@pytest.mark.parametrize("behavior", ALL_BEHAVIORS)
def test_every_partition_completes_exactly_once_despite_a_slow_and_a_failing_agent(
    behavior: SwarmBehavior, tick_s: float | None
) -> None:
    result = scenario(behavior, tick_s)
    assert_completed_once(result, SCENARIO_PARTITIONS)
    assert FAILING not in result.winners.values()
    assert result.failures >= 1
    retried = [pid for pid, agents in result.failed_on.items() if agents == [FAILING]]
    assert retried and all(result.winners[pid] != FAILING for pid in retried)
    assert all(result.attempts[pid] >= 1 for pid in retried)
    assert result.filtered == 0  # the policy itself never sends work back where it failed


@pytest.mark.parametrize("tick_s", TICKS)
@pytest.mark.parametrize("behavior", [SwarmBehavior.SWARMING, SwarmBehavior.MIGRATING])
def test_swarming_and_migrating_finish_no_later_than_round_robin(
    behavior: SwarmBehavior, tick_s: float | None
) -> None:
    baseline = scenario(SwarmBehavior.ROUND_ROBIN, tick_s).makespan
    assert scenario(behavior, tick_s).makespan <= baseline


def test_with_a_timer_swarming_backs_up_the_slow_agent_and_finishes_sooner() -> None:
    swarming = scenario(SwarmBehavior.SWARMING, 1.0)
    assert swarming.backed_up
    assert swarming.makespan < scenario(SwarmBehavior.ROUND_ROBIN, 1.0).makespan


def test_migrating_moves_work_off_the_slow_agent() -> None:
    migrating = scenario(SwarmBehavior.MIGRATING, None)
    slow_share = sum(1 for agent in migrating.winners.values() if agent == "agent-03")
    assert slow_share < 10  # round robin leaves it a full tenth
    assert migrating.makespan < scenario(SwarmBehavior.ROUND_ROBIN, None).makespan


@pytest.mark.parametrize("behavior", ALL_BEHAVIORS)
def test_an_agent_failing_three_times_in_a_row_gets_no_more_work(behavior: SwarmBehavior) -> None:
    config = PolicyConfig(max_batch=1)
    agents = [SimAgent("a", 10.0, fails=True), SimAgent("b", 10.0)]
    partitions = [SimPartition(i, 10, f"k{i % 3}") for i in range(12)]
    result = simulate(make_policy(behavior, config), agents, partitions, config=config)
    assert_completed_once(result, partitions)
    assert result.failures <= 3
    for step in result.steps:
        view = {a.agent_id: a for a in step.state.agents}["a"]
        if view.failures >= 3:
            assert not view.healthy
            assert all(a.agent_id != "a" for a in step.assignments)


@st.composite
def jobs(draw: st.DrawFn) -> tuple[PolicyConfig, list[SimAgent], list[SimPartition], int]:
    count = draw(st.integers(1, 6))
    failing = draw(st.one_of(st.none(), st.integers(0, count - 1)))
    agents = [
        SimAgent(
            f"w{i}",
            speed=draw(st.sampled_from([1.0, 5.0, 20.0, 100.0])),
            fails=i == failing and count > 1,
            location=draw(st.sampled_from([None, "eu", "us"])),
            upstream=draw(st.sampled_from([None, "k0", "k1"])),
        )
        for i in range(count)
    ]
    partitions = [
        SimPartition(i, draw(st.integers(0, 200)), draw(st.sampled_from([None, "k0", "k1", "k2"])))
        for i in range(draw(st.integers(1, 40)))
    ]
    config = PolicyConfig(
        max_batch=draw(st.integers(1, 5)),
        scout_fraction=draw(st.floats(0, 1)),
        load_cap=draw(st.floats(0.2, 3)),
        migration_margin=draw(st.floats(0, 0.9)),
        straggler_factor=draw(st.floats(0.5, 4)),
        max_backups=draw(st.integers(0, 2)),
    )
    return config, agents, partitions, draw(st.integers(0, 1000))


@pytest.mark.parametrize("behavior", ALL_BEHAVIORS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job=jobs(), tick_s=st.sampled_from(TICKS), window=st.sampled_from([None, 1, 4]))
def test_random_jobs_complete_every_partition_exactly_once(
    behavior: SwarmBehavior,
    job: tuple[PolicyConfig, list[SimAgent], list[SimPartition], int],
    tick_s: float | None,
    window: int | None,
) -> None:
    config, agents, partitions, seed = job
    result = simulate(
        make_policy(behavior, config),
        agents,
        partitions,
        config=config,
        seed=seed,
        tick_s=tick_s,
        window_per_slot=window,
    )
    assert_completed_once(result, partitions)
    assert result.filtered == 0
