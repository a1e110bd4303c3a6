"""``make_policy``, the shared helpers and ROUND_ROBIN, the baseline."""

from __future__ import annotations

import random

import pytest

from orchestration.core.hashing import RendezvousHasher
from swarm.policies import (
    POLICIES,
    ClusteringPolicy,
    DispersingPolicy,
    FlockingPolicy,
    ForagingPolicy,
    MigratingPolicy,
    RoundRobinPolicy,
    SwarmingPolicy,
    make_policy,
)
from swarm.policies.common import fair_batch, may_run, rendezvous_order
from swarm.scheduling import Assignment, PolicyConfig, SwarmBehavior
from tests.swarm.helpers import ALL_BEHAVIORS, agent, part, state

CLASSES = {
    "foraging": ForagingPolicy,
    "flocking": FlockingPolicy,
    "swarming": SwarmingPolicy,
    "dispersing": DispersingPolicy,
    "clustering": ClusteringPolicy,
    "migrating": MigratingPolicy,
    "round_robin": RoundRobinPolicy,
}


@pytest.mark.parametrize("behavior", ALL_BEHAVIORS)
def test_make_policy_builds_each_behaviour_from_enum_or_string(behavior: SwarmBehavior) -> None:
    config = PolicyConfig(max_batch=3)
    for name in (behavior, behavior.value):
        policy = make_policy(name, config)
        assert type(policy) is CLASSES[behavior.value]
        assert policy.behavior is behavior
    assert set(POLICIES) == set(SwarmBehavior)


@pytest.mark.parametrize("behavior", ALL_BEHAVIORS)
def test_make_policy_restores_memory(behavior: SwarmBehavior) -> None:
    config = PolicyConfig()
    memory = make_policy(behavior, config).export()
    assert memory["behavior"] == behavior.value
    assert make_policy(behavior, config, memory).export() == memory


def test_unknown_behaviour_names_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="unknown swarm behavior 'herding'") as error:
        make_policy("herding", PolicyConfig())
    for behavior in SwarmBehavior:
        assert behavior.value in str(error.value)


def test_memory_of_another_behaviour_is_refused() -> None:
    memory = make_policy("migrating", PolicyConfig()).export()
    with pytest.raises(ValueError, match="'migrating' policy given to 'clustering'"):
        make_policy("clustering", PolicyConfig(), memory)


@pytest.mark.parametrize(
    "config",
    [PolicyConfig(max_batch=0), PolicyConfig(scout_fraction=1.5), PolicyConfig(load_cap=0)],
)
def test_nonsense_config_is_refused(config: PolicyConfig) -> None:
    with pytest.raises(ValueError, match="invalid PolicyConfig"):
        make_policy("round_robin", config)


def test_fair_batch_spreads_pending_work_over_idle_agents() -> None:
    assert fair_batch(100, 10, 10) == 10
    assert fair_batch(25, 10, 10) == 3
    assert fair_batch(5, 10, 10) == 1
    assert fair_batch(1000, 10, 10) == 10
    assert fair_batch(0, 3, 10) == 1


def test_rendezvous_order_follows_the_registry_hasher() -> None:
    agents = [f"agent-{i}" for i in range(8)]
    order = rendezvous_order(agents, "region-3")
    weights = [RendezvousHasher().weight(a, b"region-3") for a in order]
    assert weights == sorted(weights, reverse=True)
    assert rendezvous_order(reversed(agents), "region-3") == order


def test_may_run_keeps_a_partition_off_agents_that_failed_it_while_others_have_not() -> None:
    failed = part(1, failed_on=("a",))
    assert not may_run(failed, "a", ["a", "b"])
    assert may_run(failed, "b", ["a", "b"])
    assert may_run(failed, "a", ["a"])  # every healthy agent failed it: anywhere again


def test_round_robin_deals_pending_partitions_in_order_a_fair_batch_each() -> None:
    round_state = state(
        [agent("c"), agent("a"), agent("b", idle=False), agent("d", healthy=False)],
        [part(i) for i in (5, 1, 4, 2, 3)],
        config=PolicyConfig(max_batch=2),
    )
    answer = make_policy("round_robin", round_state.config).assign(round_state, random.Random())
    assert answer == [Assignment("a", (1, 2)), Assignment("c", (3, 4))]


def test_round_robin_uses_the_whole_backlog_for_the_batch_size() -> None:
    config = PolicyConfig(max_batch=10)
    agents, window = [agent("a"), agent("b")], [part(i) for i in range(4)]
    rng = random.Random()
    everything = RoundRobinPolicy().assign(state(agents, window, config=config), rng)
    assert [len(a.partition_ids) for a in everything] == [2, 2]
    windowed = state(agents, window, config=config, pending_count=40)
    assert [len(a.partition_ids) for a in RoundRobinPolicy().assign(windowed, rng)] == [4]
