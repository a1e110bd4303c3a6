"""FORAGING: pheromone on (agent, class) pairs, evaporation, scouts.

The first tests are of rules revision 1 (swarms started before revision 2 replay with
them); the rest of revision 2.
"""

from __future__ import annotations

import random
from collections import Counter, deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.policies import ForagingPolicy
from swarm.policies.common import fair_batch, healthy_ids, idle_ids, may_run, partition_class
from swarm.policies.foraging import INITIAL_PHEROMONE, LEARNING, PROBE_CLASSES
from swarm.scheduling import Assignment, Outcome, PartitionView, PolicyConfig, RoundState
from tests.swarm.helpers import agent, part, state

RNG = random.Random(5)


def picks(policy: ForagingPolicy, config: PolicyConfig, draws: int = 300) -> Counter[str]:
    """Which class one idle agent's single slot takes, over ``draws`` seeds."""
    pending = [part(i, key="hot" if i % 2 else "cold") for i in range(10)]
    round_state = state([agent("a")], pending, config=config, revision=1)
    keys = {p.partition_id: p.key for p in pending}
    counts: Counter[str] = Counter()
    for seed in range(draws):
        (assignment,) = policy.assign(round_state, random.Random(seed))
        counts.update(str(keys[p]) for p in assignment.partition_ids)
    return counts


def test_unseen_pairs_start_at_the_initial_pheromone() -> None:
    assert ForagingPolicy(revision=1).pheromone("a", "anything") == INITIAL_PHEROMONE


def test_yield_reinforces_the_classes_run_and_evaporation_reduces_every_trail() -> None:
    policy = ForagingPolicy(PolicyConfig(pheromone_evaporation_rate=0.1), revision=1)
    policy.observe(Outcome("a", (1, 2), items=200, duration_s=10.0, success=True, keys=("x", "x")))
    assert policy.pheromone("a", "x") == pytest.approx(INITIAL_PHEROMONE + 20.0)
    policy.observe(Outcome("b", (3, 4), items=100, duration_s=10.0, success=True, keys=("x", None)))
    assert policy.pheromone("a", "x") == pytest.approx(21.0 * 0.9)  # evaporated only
    assert policy.pheromone("b", "x") == pytest.approx(INITIAL_PHEROMONE + 5.0)  # half the yield
    assert policy.pheromone("b", "default") == pytest.approx(INITIAL_PHEROMONE + 5.0)


def test_failures_deposit_nothing_so_the_trail_fades() -> None:
    policy = ForagingPolicy(PolicyConfig(pheromone_evaporation_rate=0.5), revision=1)
    for _ in range(3):
        policy.observe(Outcome("a", (1,), items=0, duration_s=5.0, success=False, keys=("x",)))
    assert policy.pheromone("a", "x") == pytest.approx(INITIAL_PHEROMONE * 0.25)


def test_assignments_follow_the_pheromone() -> None:
    config = PolicyConfig(max_batch=1, scout_fraction=0.0)
    policy = ForagingPolicy(config, {"a": {"hot": 9.0, "cold": 1.0}}, revision=1)
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
    policy = ForagingPolicy(config, revision=1)
    for _ in range(5):
        policy.observe(Outcome("a", (0,), 1000, 1.0, True, ("north",)))
        policy.observe(Outcome("b", (1,), 1000, 1.0, True, ("south",)))
    pending = [part(i, key="north" if i < 4 else "south") for i in range(8)]
    answer = policy.assign(
        state([agent("a"), agent("b")], pending, config=config, revision=1), random.Random(1)
    )
    by_agent = {a.agent_id: {pending[p].key for p in a.partition_ids} for a in answer}
    assert by_agent == {"a": {"north"}, "b": {"south"}}


def test_a_fair_batch_per_idle_agent_and_no_partition_twice() -> None:
    config = PolicyConfig(max_batch=10)
    round_state = state(
        [agent("a"), agent("b"), agent("c")],
        [part(i, key=f"k{i % 3}") for i in range(7)],
        config=config,
        revision=1,
    )
    answer = ForagingPolicy(config).assign(round_state, random.Random(3))
    assert [len(a.partition_ids) for a in answer] == [3, 3, 1]
    assert sorted(p for a in answer for p in a.partition_ids) == list(range(7))


def _reference_assign(
    policy: ForagingPolicy, state: RoundState, rng: random.Random
) -> list[Assignment]:
    """FORAGING's assignment as first written (quadratic in the window): the linear one
    must make exactly the same choices, or recorded swarms would not replay."""
    idle, healthy = idle_ids(state), healthy_ids(state)
    remaining = sorted(state.pending, key=lambda p: p.partition_id)
    batch = fair_batch(state.backlog, len(idle), state.config.max_batch)
    assignments: list[Assignment] = []
    for agent_id in idle:
        by_class: dict[str, deque[PartitionView]] = {}
        for partition in remaining:
            if may_run(partition, agent_id, healthy):
                by_class.setdefault(partition_class(partition.key), deque()).append(partition)
        taken: set[int] = set()
        while len(taken) < batch and by_class:
            cls = policy._draw(agent_id, sorted(by_class), rng, state.config.scout_fraction)
            taken.add(by_class[cls].popleft().partition_id)
            if not by_class[cls]:
                del by_class[cls]
        if taken:
            assignments.append(Assignment(agent_id, tuple(sorted(taken))))
            remaining = [p for p in remaining if p.partition_id not in taken]
    return assignments


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 8),
    st.lists(
        st.tuples(st.sampled_from([None, "eu", "us", "cn"]), st.sets(st.integers(0, 7))),
        max_size=60,
    ),
    st.integers(1, 5),
    st.integers(0, 2**32),
)
def test_the_linear_assignment_makes_the_reference_choices(
    agents: int, partitions: list[tuple[str | None, set[int]]], max_batch: int, seed: int
) -> None:
    ids = [f"a{i}" for i in range(agents)]
    pending = [
        part(n, key=key, failed_on=tuple(ids[i] for i in sorted(failed) if i < agents))
        for n, (key, failed) in enumerate(partitions)
    ]
    views = [agent(a, healthy=n != 1 or agents == 1) for n, a in enumerate(ids)]
    round_state = state(views, pending, config=PolicyConfig(max_batch=max_batch), revision=1)
    policy = ForagingPolicy(round_state.config, {"a0": {"eu": 5.0}, "a2": {"us": 0.5}}, revision=1)
    assert policy.assign(round_state, random.Random(seed)) == _reference_assign(
        policy, round_state, random.Random(seed)
    )


# -- rules revision 2 ------------------------------------------------------------------


def test_an_untried_pair_has_the_median_trail_of_the_others_on_that_class() -> None:
    policy = ForagingPolicy(pheromone={"b": {"x": 10.0}, "c": {"x": 30.0}, "d": {"x": 90.0}})
    assert policy.pheromone("a", "x") == 30.0
    assert policy.pheromone("b", "x") == 10.0
    assert policy.pheromone("a", "nobody-knows") == INITIAL_PHEROMONE


def test_a_trail_moves_halfway_to_each_classes_own_yield() -> None:
    policy = ForagingPolicy(PolicyConfig(pheromone_evaporation_rate=0.0))
    policy.observe(Outcome("a", (1, 2), 200, 5.0, True, ("x", "y"), durations_s=(1.0, 4.0)))
    assert policy.pheromone("a", "x") == pytest.approx(100.0)  # first sight: its yield
    assert policy.pheromone("a", "y") == pytest.approx(25.0)
    policy.observe(Outcome("a", (3,), 100, 0.5, True, ("x",), durations_s=(0.5,)))
    assert policy.pheromone("a", "x") == pytest.approx(100.0 + LEARNING * (200.0 - 100.0))


def test_a_new_agent_scouts_one_partition_of_each_of_a_few_classes() -> None:
    config = PolicyConfig(max_batch=10)
    pending = [part(i, key=f"k{i % 8}") for i in range(40)]
    (answer,) = ForagingPolicy(config).assign(state([agent("a")], pending, config=config), RNG)
    keys = [pending[p].key for p in answer.partition_ids]
    assert len(keys) == PROBE_CLASSES and len(set(keys)) == PROBE_CLASSES


def test_an_agent_that_knows_its_classes_takes_one_class_at_a_time() -> None:
    config = PolicyConfig(max_batch=4, scout_fraction=0.0)
    policy = ForagingPolicy(config, {"a": {"hot": 1e6, "cold": 1.0}})
    pending = [part(i, key="hot" if i % 2 else "cold") for i in range(20)]
    (answer,) = policy.assign(state([agent("a")], pending, config=config), RNG)
    assert answer.partition_ids == (1, 3, 5, 7)


def test_an_agent_slower_than_the_best_at_a_class_takes_less_of_it() -> None:
    config = PolicyConfig(max_batch=8, scout_fraction=0.0)
    policy = ForagingPolicy(config, {"fast": {"x": 100.0}, "slow": {"x": 25.0}})
    pending = [part(i, key="x") for i in range(40)]
    answer = policy.assign(state([agent("fast"), agent("slow")], pending, config=config), RNG)
    assert {a.agent_id: len(a.partition_ids) for a in answer} == {"fast": 8, "slow": 2}


def test_an_agent_slower_than_its_own_trails_said_takes_little_next() -> None:
    config = PolicyConfig(max_batch=8, scout_fraction=0.0, pheromone_evaporation_rate=0.0)
    policy = ForagingPolicy(config, {"a": {"x": 100.0, "y": 100.0}, "b": {"x": 100.0}})
    policy.observe(Outcome("a", (1,), 10, 1.0, True, ("x",), durations_s=(1.0,)))  # 10 items/s
    pending = [part(i, key="y") for i in range(40)]
    answer = policy.assign(state([agent("a"), agent("b")], pending, config=config), RNG)
    assert {a.agent_id: len(a.partition_ids) for a in answer} == {"a": 1, "b": 8}
    policy.observe(Outcome("a", (2,), 10, 0.1, True, ("y",), durations_s=(0.1,)))  # as before
    (again,) = policy.assign(state([agent("a")], pending[10:], config=config), RNG)
    assert len(again.partition_ids) == 8
