"""DISPERSING: rendezvous hashing of partitions over the healthy agents."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

from swarm.policies import DispersingPolicy
from swarm.policies.common import rendezvous_order
from swarm.scheduling import Assignment, PolicyConfig
from tests.swarm.helpers import agent, part, state

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
    round_state = state(pool, pending, config=PolicyConfig(max_batch=100))
    owners = DispersingPolicy().owners(round_state)
    answer = DispersingPolicy().assign(round_state, random.Random())
    assert answer == [
        Assignment(agent_id, tuple(p for p, owner in owners.items() if owner == agent_id))
        for agent_id in ("a", "c")
    ]


def test_max_batch_caps_an_agents_share_per_round() -> None:
    round_state = state([agent("a")], [part(i) for i in range(9)], config=PolicyConfig(max_batch=4))
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
    answer = DispersingPolicy().assign(state(pool, pending, config=config), random.Random())
    if mine:  # b has its own share: it takes that, and steals nothing
        assert answer == [Assignment("b", tuple(mine))]
        pending = [part(p) for p, owner in owners.items() if owner != "b"]
        answer = DispersingPolicy().assign(state(pool, pending, config=config), random.Random())
    share = [p for p, owner in owners.items() if owner == longest]
    half = (len(share) + 1) // 2  # rounded up: a busy agent's last queued partition goes too
    assert answer == [Assignment("b", tuple(share[len(share) - half :]))]


def test_the_last_queued_partition_of_a_busy_agent_is_stolen() -> None:
    pool = [agent("a", idle=False), agent("b")]
    owners = DispersingPolicy().owners(state(pool, [part(i) for i in range(40)]))
    last = next(p for p, owner in owners.items() if owner == "a")
    answer = DispersingPolicy().assign(state(pool, [part(last)]), random.Random())
    assert answer == [Assignment("b", (last,))]


def test_swarms_started_before_the_rule_replay_without_stealing_the_last_partition() -> None:
    pool = [agent("a", idle=False), agent("b")]
    owners = DispersingPolicy().owners(state(pool, [part(i) for i in range(40)]))
    last = next(p for p, owner in owners.items() if owner == "a")
    before = dataclasses.replace(state(pool, [part(last)]), steal_last=False)
    assert DispersingPolicy().assign(before, random.Random()) == []
