"""FORAGING: pheromone on (agent, class) pairs, evaporation, scouts."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from swarm.policies import ForagingPolicy
from swarm.policies.foraging import INITIAL_PHEROMONE
from swarm.scheduling import Outcome, PolicyConfig
from tests.swarm.helpers import agent, part, state


def picks(policy: ForagingPolicy, config: PolicyConfig, draws: int = 300) -> Counter[str]:
    """Which class one idle agent's single slot takes, over ``draws`` seeds."""
    pending = [part(i, key="hot" if i % 2 else "cold") for i in range(10)]
    round_state = state([agent("a")], pending, config=config)
    keys = {p.partition_id: p.key for p in pending}
    counts: Counter[str] = Counter()
    for seed in range(draws):
        (assignment,) = policy.assign(round_state, random.Random(seed))
        counts.update(str(keys[p]) for p in assignment.partition_ids)
    return counts


def test_unseen_pairs_start_at_the_initial_pheromone() -> None:
    assert ForagingPolicy().pheromone("a", "anything") == INITIAL_PHEROMONE


def test_yield_reinforces_the_classes_run_and_evaporation_reduces_every_trail() -> None:
    policy = ForagingPolicy(PolicyConfig(pheromone_evaporation_rate=0.1))
    policy.observe(Outcome("a", (1, 2), items=200, duration_s=10.0, success=True, keys=("x", "x")))
    assert policy.pheromone("a", "x") == pytest.approx(INITIAL_PHEROMONE + 20.0)
    policy.observe(Outcome("b", (3, 4), items=100, duration_s=10.0, success=True, keys=("x", None)))
    assert policy.pheromone("a", "x") == pytest.approx(21.0 * 0.9)  # evaporated only
    assert policy.pheromone("b", "x") == pytest.approx(INITIAL_PHEROMONE + 5.0)  # half the yield
    assert policy.pheromone("b", "default") == pytest.approx(INITIAL_PHEROMONE + 5.0)


def test_failures_deposit_nothing_so_the_trail_fades() -> None:
    policy = ForagingPolicy(PolicyConfig(pheromone_evaporation_rate=0.5))
    for _ in range(3):
        policy.observe(Outcome("a", (1,), items=0, duration_s=5.0, success=False, keys=("x",)))
    assert policy.pheromone("a", "x") == pytest.approx(INITIAL_PHEROMONE * 0.25)


def test_assignments_follow_the_pheromone() -> None:
    config = PolicyConfig(max_batch=1, scout_fraction=0.0)
    policy = ForagingPolicy(config, {"a": {"hot": 9.0, "cold": 1.0}})
    counts = picks(policy, config)
    assert 240 <= counts["hot"] <= 295  # about 90%
    assert counts["cold"] > 0


def test_without_scouts_a_dominant_trail_takes_everything() -> None:
    config = PolicyConfig(max_batch=1, scout_fraction=0.0)
    policy = ForagingPolicy(config, {"a": {"hot": 1e12, "cold": 1.0}})
    assert picks(policy, config) == Counter(hot=300)


def test_scouts_explore_the_other_classes() -> None:
    config = PolicyConfig(max_batch=1, scout_fraction=0.5)
    policy = ForagingPolicy(config, {"a": {"hot": 1e12, "cold": 1.0}})
    counts = picks(policy, config)
    assert 40 <= counts["cold"] <= 110  # scouts pick uniformly: about a quarter


def test_learned_preference_steers_each_agent_to_its_own_class() -> None:
    config = PolicyConfig(max_batch=2, scout_fraction=0.0)
    policy = ForagingPolicy(config)
    for _ in range(5):
        policy.observe(Outcome("a", (0,), 1000, 1.0, True, ("north",)))
        policy.observe(Outcome("b", (1,), 1000, 1.0, True, ("south",)))
    pending = [part(i, key="north" if i < 4 else "south") for i in range(8)]
    answer = policy.assign(
        state([agent("a"), agent("b")], pending, config=config), random.Random(1)
    )
    by_agent = {a.agent_id: {pending[p].key for p in a.partition_ids} for a in answer}
    assert by_agent == {"a": {"north"}, "b": {"south"}}


def test_a_fair_batch_per_idle_agent_and_no_partition_twice() -> None:
    config = PolicyConfig(max_batch=10)
    round_state = state(
        [agent("a"), agent("b"), agent("c")],
        [part(i, key=f"k{i % 3}") for i in range(7)],
        config=config,
    )
    answer = ForagingPolicy(config).assign(round_state, random.Random(3))
    assert [len(a.partition_ids) for a in answer] == [3, 3, 1]
    assert sorted(p for a in answer for p in a.partition_ids) == list(range(7))
