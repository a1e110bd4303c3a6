"""FLOCKING: neighbours in (location, throughput) space align batch sizes and keep apart."""

from __future__ import annotations

import random

from swarm.policies import FlockingPolicy
from swarm.policies.flocking import LOCATION_SCALE, THROUGHPUT_SCALE, position
from swarm.scheduling import AgentView, PolicyConfig
from tests.swarm.helpers import agent, part, state

RNG = random.Random(0)


def test_position_maps_location_by_hash_and_scales_throughput() -> None:
    x_eu, y_eu = position(agent("a", location="eu", throughput=50.0), 100.0)
    assert position(agent("b", location="eu", throughput=50.0), 100.0) == (x_eu, y_eu)
    assert 0 <= x_eu < LOCATION_SCALE
    assert y_eu == THROUGHPUT_SCALE / 2
    assert position(agent("c", location="eu"), 0.0)[1] == 0.0


def test_neighbours_are_close_in_location_and_throughput() -> None:
    agents = [
        agent("a", location="eu", throughput=100.0),
        agent("b", location="eu", throughput=80.0),  # 2 apart
        agent("c", location="eu", throughput=10.0),  # 9 apart: too far
        agent("d", location="eu", throughput=90.0, healthy=False),  # not in the flock
    ]
    neighbours = FlockingPolicy().neighbours(state(agents))
    assert neighbours["a"] == ["b"]
    assert neighbours["c"] == []
    assert "d" not in neighbours


def flock(*batches: tuple[str, float, int]) -> tuple[FlockingPolicy, list[AgentView]]:
    """A policy remembering ``batches`` (agent, throughput, last batch); all busy, in 'eu'."""
    policy = FlockingPolicy(PolicyConfig(), {name: size for name, _, size in batches})
    busy = [agent(name, idle=False, location="eu", throughput=tp) for name, tp, _ in batches]
    return policy, busy


def test_alignment_moves_the_batch_toward_the_neighbours_throughput_weighted_mean() -> None:
    # a (idle) sees b (batch 9, 90 items/s) and d (batch 1, 10 items/s): weighted mean 8.2,
    # plain mean 5; far (1000 items/s) is no neighbour and sets the throughput scale.
    policy, busy = flock(("b", 90.0, 9), ("d", 10.0, 1))
    agents = [
        agent("a", location="eu", throughput=100.0),
        agent("far", location="eu", throughput=1000.0),
        *busy,
    ]
    (mine, theirs) = policy.assign(state(agents, [part(i) for i in range(8)]), RNG)
    assert mine.agent_id == "a" and len(mine.partition_ids) == 6  # 4 + (8.2 - 4) / 2, rounded
    assert theirs.agent_id == "far" and len(theirs.partition_ids) == 2


def test_without_neighbours_the_batch_is_the_fair_batch() -> None:
    policy, busy = flock(("b", 900.0, 9))
    agents = [agent("a", location="eu", throughput=10.0), agent("c", throughput=1000.0), *busy]
    (mine, _) = policy.assign(state(agents, [part(i) for i in range(8)]), RNG)
    assert len(mine.partition_ids) == 4  # b is 8.9 apart on the throughput axis


def test_separation_avoids_an_upstream_in_flight_on_a_neighbour() -> None:
    config = PolicyConfig(max_batch=1)
    agents = [agent("a", location="eu"), agent("b", location="eu", idle=False)]
    running = part(9, key="s1", running_on=("b",), started_at=0.0)
    pending = [part(0, key="s1"), part(1, key="s2")]
    answer = FlockingPolicy(config).assign(state(agents, pending, [running], config=config), RNG)
    assert [a.partition_ids for a in answer] == [(1,)]
    only_s1 = [part(0, key="s1"), part(2, key="s1")]  # nothing else pending: no starvation
    answer = FlockingPolicy(config).assign(state(agents, only_s1, [running], config=config), RNG)
    assert [a.partition_ids for a in answer] == [(0,)]


def test_separation_counts_a_neighbours_upstream_and_this_rounds_batches() -> None:
    config = PolicyConfig(max_batch=1)
    pending = [part(0, key="s1"), part(1, key="s1"), part(2, key="s2")]
    agents = [agent("a", location="eu"), agent("b", location="eu")]
    answer = FlockingPolicy(config).assign(state(agents, pending, config=config), RNG)
    assert [(a.agent_id, a.partition_ids) for a in answer] == [("a", (0,)), ("b", (2,))]
    reading = [agent("a", location="eu"), agent("b", location="eu", idle=False, upstream="s1")]
    answer = FlockingPolicy(config).assign(state(reading, pending, config=config), RNG)
    assert [a.partition_ids for a in answer] == [(2,)]


def test_a_far_agent_does_not_repel() -> None:
    config = PolicyConfig(max_batch=1)
    agents = [
        agent("a", location="eu", throughput=100.0),
        agent("b", location="eu", idle=False, throughput=5.0),  # 9.5 apart on throughput
    ]
    running = part(9, key="s1", running_on=("b",), started_at=0.0)
    pending = [part(0, key="s1"), part(1, key="s2")]
    answer = FlockingPolicy(config).assign(state(agents, pending, [running], config=config), RNG)
    assert [a.partition_ids for a in answer] == [(0,)]


# -- rules revision 2: the flock works where it stands ----------------------------------


def test_an_agent_takes_its_own_locations_data_first() -> None:
    pool = [agent("a", location="eu-west"), agent("b", location="ap-south")]
    pending = [part(i, key="eu-west" if i % 2 else "ap-south") for i in range(8)]
    answer = FlockingPolicy().assign(state(pool, pending), RNG)
    by_agent = {a.agent_id: {pending[p].key for p in a.partition_ids} for a in answer}
    assert by_agent == {"a": {"eu-west"}, "b": {"ap-south"}}


def test_another_locations_data_is_taken_a_little_at_a_time() -> None:
    pool = [agent("a", location="eu-west"), agent("b", location="ap-south", idle=False)]
    pending = [part(i, key="ap-south") for i in range(40)]
    config = PolicyConfig(max_batch=8)
    (answer,) = FlockingPolicy().assign(state(pool, pending, config=config), RNG)
    assert len(answer.partition_ids) == 2  # a quarter of the fair batch
