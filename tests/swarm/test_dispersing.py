"""DISPERSING: idle agents spread over the keys (rules revision 2, at the end); the first
tests are of revision 1, rendezvous owners and work stealing, which swarms started before
revision 2 replay with."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

from swarm.policies import DispersingPolicy
from swarm.policies.common import rendezvous_order
from swarm.scheduling import Assignment, PolicyConfig
from tests.swarm.helpers import agent, part, state

RNG = random.Random(0)
AGENTS = [f"agent-{i}" for i in range(10)]
PENDING = [part(i) for i in range(1000)]


def test_partitions_spread_evenly_over_the_healthy_agents() -> None:
    owners = DispersingPolicy().owners(state([agent(a) for a in AGENTS], PENDING))
    shares = Counter(owners.values())
    assert set(shares) == set(AGENTS)
    assert all(70 <= n <= 130 for n in shares.values()), shares


def test_an_unhealthy_agent_moves_only_its_own_partitions() -> None:
    before = DispersingPolicy().owners(state([agent(a) for a in AGENTS], PENDING))
    lost = "agent-3"
    pool = [agent(a, healthy=a != lost) for a in AGENTS]
    after = DispersingPolicy().owners(state(pool, PENDING))
    moved = {p for p in before if before[p] != after[p]}
    assert moved == {p for p, owner in before.items() if owner == lost}
    assert lost not in after.values()
    assert len(Counter(after[p] for p in moved)) == len(AGENTS) - 1  # spread, not dumped
    healed = DispersingPolicy().owners(state([agent(a) for a in AGENTS], PENDING))
    assert healed == before  # it comes back: exactly its partitions return


def test_busy_agents_keep_their_share_idle_agents_take_only_their_own() -> None:
    pool = [agent("a"), agent("b", idle=False), agent("c")]
    pending = [part(i) for i in range(30)]
    round_state = state(pool, pending, config=PolicyConfig(max_batch=100), revision=1)
    owners = DispersingPolicy().owners(round_state)
    answer = DispersingPolicy().assign(round_state, random.Random())
    assert answer == [
        Assignment(agent_id, tuple(p for p, owner in owners.items() if owner == agent_id))
        for agent_id in ("a", "c")
    ]


def test_max_batch_caps_an_agents_share_per_round() -> None:
    round_state = state(
        [agent("a")], [part(i) for i in range(9)], config=PolicyConfig(max_batch=4), revision=1
    )
    assert DispersingPolicy().assign(round_state, random.Random()) == [
        Assignment("a", (0, 1, 2, 3))
    ]


def test_a_failed_partition_goes_to_the_next_agent_in_its_ranking() -> None:
    ranking = rendezvous_order(AGENTS, "partition:7")
    pool = [agent(a) for a in AGENTS]
    assert DispersingPolicy().owners(state(pool, [part(7)])) == {7: ranking[0]}
    failed = part(7, attempts=2, failed_on=(ranking[0], ranking[1]))
    assert DispersingPolicy().owners(state(pool, [failed])) == {7: ranking[2]}
    everywhere = part(7, attempts=10, failed_on=tuple(AGENTS))
    assert DispersingPolicy().owners(state(pool, [everywhere])) == {7: ranking[0]}


def test_an_idle_agent_without_work_steals_the_tail_of_a_busy_agents_share() -> None:
    pool = [agent("a", idle=False), agent("b"), agent("c", idle=False)]
    pending = [part(i) for i in range(40)]
    config = PolicyConfig(max_batch=100)
    owners = DispersingPolicy().owners(state(pool, pending, config=config))
    longest = max(("a", "c"), key=lambda o: (sum(v == o for v in owners.values()), o))
    mine = [p for p, owner in owners.items() if owner == "b"]
    answer = DispersingPolicy().assign(
        state(pool, pending, config=config, revision=1), random.Random()
    )
    if mine:  # b has its own share: it takes that, and steals nothing
        assert answer == [Assignment("b", tuple(mine))]
        pending = [part(p) for p, owner in owners.items() if owner != "b"]
        answer = DispersingPolicy().assign(
            state(pool, pending, config=config, revision=1), random.Random()
        )
    share = [p for p, owner in owners.items() if owner == longest]
    half = (len(share) + 1) // 2  # rounded up: a busy agent's last queued partition goes too
    assert answer == [Assignment("b", tuple(share[len(share) - half :]))]


def test_the_last_queued_partition_of_a_busy_agent_is_stolen() -> None:
    pool = [agent("a", idle=False), agent("b")]
    owners = DispersingPolicy().owners(state(pool, [part(i) for i in range(40)]))
    last = next(p for p, owner in owners.items() if owner == "a")
    answer = DispersingPolicy().assign(state(pool, [part(last)], revision=1), random.Random())
    assert answer == [Assignment("b", (last,))]


def test_swarms_started_before_the_rule_replay_without_stealing_the_last_partition() -> None:
    pool = [agent("a", idle=False), agent("b")]
    owners = DispersingPolicy().owners(state(pool, [part(i) for i in range(40)]))
    last = next(p for p, owner in owners.items() if owner == "a")
    before = dataclasses.replace(state(pool, [part(last)], revision=1), steal_last=False)
    assert DispersingPolicy().assign(before, random.Random()) == []


# -- rules revision 2: idle agents spread over the keys ----------------------------------


def test_idle_agents_start_on_different_keys_a_fair_batch_each() -> None:
    pending = [part(i, key=f"source-{i // 20}") for i in range(200)]  # a sorted export
    pool = [agent(a) for a in AGENTS]
    answer = DispersingPolicy().assign(state(pool, pending), random.Random())
    keys = [{pending[p].key for p in a.partition_ids} for a in answer]
    assert [len(a.partition_ids) for a in answer] == [10] * 10  # min(max_batch, 200 / 10)
    assert all(len(k) == 1 for k in keys)  # one key each ...
    assert len({k.pop() for k in keys}) == 10  # ... and never the same one


def test_the_key_with_the_fewest_partitions_in_flight_comes_first() -> None:
    pending = [part(i, key="busy" if i < 5 else "quiet") for i in range(10)]
    in_flight = [part(100 + i, key="busy", running_on=("x",), started_at=0.0) for i in range(3)]
    pool = [agent("a"), agent("x", idle=False)]
    config = PolicyConfig(max_batch=4)
    (answer,) = DispersingPolicy().assign(state(pool, pending, in_flight, config=config), RNG)
    assert answer == Assignment("a", (5, 6, 7, 8))


def test_with_fewer_keys_than_agents_a_batch_mixes_the_least_crowded_keys() -> None:
    pending = [part(i, key=f"class-{i % 3}") for i in range(30)]
    config = PolicyConfig(max_batch=6)
    pool = [agent(a, idle=a == "agent-0") for a in AGENTS]  # 3 keys < 10 agents
    (answer,) = DispersingPolicy().assign(state(pool, pending, config=config), RNG)
    keys = Counter(pending[p].key for p in answer.partition_ids)
    assert keys == {"class-0": 2, "class-1": 2, "class-2": 2}
