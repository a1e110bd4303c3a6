"""SWARMING: fair assignment, then backups of stragglers once the backlog is drained."""

from __future__ import annotations

import random

from swarm.policies import SwarmingPolicy
from swarm.scheduling import Assignment, PolicyConfig, RoundState, check_assignments
from tests.swarm.helpers import agent, part, state

RNG = random.Random(0)


def tail(now: float, *, max_backups: int = 1, copies: tuple[str, ...] = ("slow",)) -> RoundState:
    """Nothing pending; partitions 0 and 1 (100 items each) started at 0 on ``slow``; the pool
    runs 100 items/s, so they are expected to take 2 s and straggle after 4 s."""
    config = PolicyConfig(max_backups=max_backups, straggler_factor=2.0)
    agents = [
        agent("slow", idle=False, throughput=10.0),
        agent("b", throughput=100.0),
        agent("c", throughput=100.0),
        agent("d", throughput=100.0),
        *(agent(name, idle=False, throughput=100.0) for name in copies if name != "slow"),
    ]
    running = [part(i, items=100, running_on=copies, started_at=0.0) for i in (0, 1)]
    return state(agents, [], running, now=now, config=config)


def test_no_backups_before_a_partition_is_overdue() -> None:
    assert SwarmingPolicy().assign(tail(3.9), RNG) == []
    assert SwarmingPolicy().review_at(tail(3.9)) == 4.0


def test_idle_agents_converge_on_stragglers_with_backups() -> None:
    round_state = tail(4.5)
    answer = SwarmingPolicy().assign(round_state, RNG)
    check_assignments(round_state, answer)
    assert answer == [Assignment("b", (0,), backup=True), Assignment("c", (1,), backup=True)]
    assert [p.partition_id for p in SwarmingPolicy().stragglers(round_state)] == [0, 1]


def test_never_more_than_max_backups_per_partition() -> None:
    two = SwarmingPolicy().assign(tail(4.5, max_backups=2), RNG)
    # 4 copy slots over 3 idle agents: 2 each; the third agent finds every slot taken
    assert [(a.agent_id, a.partition_ids) for a in two] == [("b", (0, 1)), ("c", (0, 1))]
    backed_up = tail(4.5, max_backups=1, copies=("slow", "e"))
    assert SwarmingPolicy().assign(backed_up, RNG) == []  # one copy each already
    assert SwarmingPolicy().assign(tail(4.5, max_backups=0), RNG) == []


def test_no_backups_while_the_backlog_is_not_drained() -> None:
    base = tail(10.0)
    waiting = state(
        base.agents, [part(i) for i in range(5, 12)], base.in_flight, now=10.0, config=base.config
    )
    answer = SwarmingPolicy().assign(waiting, RNG)
    assert not any(a.backup for a in answer)
    windowed = state(
        base.agents,
        [part(5)],
        base.in_flight,
        now=10.0,
        config=base.config,
        pending_count=50,  # the window shows one partition, fifty wait
    )
    assert not any(a.backup for a in SwarmingPolicy().assign(windowed, RNG))


def test_the_last_pending_partitions_go_out_first_then_backups() -> None:
    base = tail(10.0)
    last = state(base.agents, [part(7)], base.in_flight, now=10.0, config=base.config)
    answer = SwarmingPolicy().assign(last, RNG)
    check_assignments(last, answer)
    assert answer == [
        Assignment("b", (7,)),
        Assignment("c", (0,), backup=True),
        Assignment("d", (1,), backup=True),
    ]


def test_nothing_straggles_while_no_throughput_is_known() -> None:
    base = tail(100.0)
    unknown = state(
        [agent(a.agent_id, idle=a.idle) for a in base.agents],
        [],
        base.in_flight,
        now=100.0,
        config=base.config,
    )
    assert SwarmingPolicy().assign(unknown, RNG) == []
    assert SwarmingPolicy().review_at(unknown) is None


def test_agents_on_a_failure_streak_back_up_last() -> None:
    base = tail(4.5)
    agents = [
        agent(
            a.agent_id, idle=a.idle, throughput=a.throughput, failures=1 if a.agent_id == "b" else 0
        )
        for a in base.agents
    ]
    answer = SwarmingPolicy().assign(
        state(agents, [], base.in_flight, now=4.5, config=base.config), RNG
    )
    assert [a.agent_id for a in answer] == ["c", "d"]
