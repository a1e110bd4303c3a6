"""MIGRATING: queued work moves off slow, failing or lost agents when the gain clears the margin."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from swarm.policies import MigratingPolicy
from swarm.scheduling import AgentView, PolicyConfig
from tests.swarm.helpers import agent, part, state

RNG = random.Random(0)
CONFIG = PolicyConfig(migration_margin=0.2)
PENDING = [part(i, items=100) for i in range(21)]


def planned(b_throughput: float, **b_fields: Any) -> MigratingPolicy:
    """Plan 21 partitions over a, b, c while nothing is known (all busy), then re-plan once b's
    throughput is known (a and c run 100 items/s)."""
    policy = MigratingPolicy(CONFIG)
    unknown = [agent(name, idle=False) for name in "abc"]
    policy.assign(state(unknown, PENDING, config=CONFIG), RNG)
    assert Counter(policy.plan().values()) == {"a": 7, "b": 7, "c": 7}  # an even spread
    known: list[AgentView] = [
        agent("a", idle=False, throughput=100.0),
        agent("b", idle=False, throughput=b_throughput, **b_fields),
        agent("c", idle=False, throughput=100.0),
    ]
    policy.assign(state(known, PENDING, config=CONFIG), RNG)
    return policy


def test_queued_work_moves_off_a_five_times_slower_agent() -> None:
    shares = Counter(planned(20.0).plan().values())
    assert shares["b"] <= 3
    assert sum(shares.values()) == 21


def test_an_agent_only_five_percent_slower_keeps_its_queue() -> None:
    assert Counter(planned(95.0).plan().values()) == {"a": 7, "b": 7, "c": 7}


def test_a_failure_streak_counts_as_slowness() -> None:
    assert Counter(planned(100.0, failures=2).plan().values())["b"] < 7


def test_an_unhealthy_agent_always_loses_its_queue() -> None:
    config = PolicyConfig(migration_margin=0.99)  # no migration for speed
    policy = MigratingPolicy(config)
    pool = [agent(name, idle=False) for name in "abc"]
    policy.assign(state(pool, PENDING, config=config), RNG)
    lost = [agent("a", idle=False), agent("b", idle=False, healthy=False), agent("c", idle=False)]
    policy.assign(state(lost, PENDING, config=config), RNG)
    assert Counter(policy.plan().values()) == {"a": 11, "c": 10}


def test_idle_agents_take_a_quarter_of_their_queue_which_leaves_the_plan() -> None:
    policy = MigratingPolicy(CONFIG)
    pool = [agent(name) for name in "abc"]
    answer = policy.assign(state(pool, PENDING, config=CONFIG, revision=1), RNG)
    assert [len(a.partition_ids) for a in answer] == [2, 2, 2]  # ceil(7 / 4)
    handed_out = {p for a in answer for p in a.partition_ids}
    assert not handed_out & set(policy.plan())
    assert len(policy.plan()) == 21 - 6


def test_an_idle_agent_takes_over_queued_work_only_for_a_clear_gain() -> None:
    config = PolicyConfig(migration_margin=0.2, max_batch=10)
    policy = MigratingPolicy(config, {0: ("a", 100), 1: ("a", 100)})
    busy_a = part(9, items=100, running_on=("a",), started_at=0.0)
    # a: 1 s of work left in flight + 2 queued at 100 items/s = 3 s; b could do one in 1 s
    pool = [agent("a", idle=False, throughput=100.0), agent("b", throughput=100.0)]
    answer = policy.assign(state(pool, PENDING[:2], [busy_a], config=config), RNG)
    assert [(a.agent_id, a.partition_ids) for a in answer] == [("b", (1,))]
    # 3 s -> 1 s is 67% better: it clears a 20% margin, not an 80% one
    strict = PolicyConfig(migration_margin=0.8)
    policy = MigratingPolicy(strict, {0: ("a", 100), 1: ("a", 100)})
    assert policy.assign(state(pool, PENDING[:2], [busy_a], config=strict), RNG) == []


def test_a_partition_that_failed_on_its_agent_is_placed_elsewhere() -> None:
    policy = MigratingPolicy(CONFIG, {3: ("a", 100)})
    pool = [agent("a", idle=False), agent("b", idle=False)]
    failed = part(3, items=100, attempts=1, failed_on=("a",))
    policy.assign(state(pool, [failed], config=CONFIG), RNG)
    assert policy.plan() == {3: "b"}


def test_planned_partitions_outside_the_window_stay_planned() -> None:
    policy = MigratingPolicy(CONFIG)
    pool = [agent(name, idle=False) for name in "ab"]
    policy.assign(state(pool, PENDING[:10], config=CONFIG), RNG)
    before = policy.plan()
    policy.assign(state(pool, PENDING[:4], config=CONFIG, pending_count=10), RNG)
    assert policy.plan() == before


# -- rules revision 2 ------------------------------------------------------------------


def test_new_work_is_planned_in_contiguous_runs_one_per_agent() -> None:
    policy = MigratingPolicy(CONFIG)
    busy = [agent(name, idle=False) for name in "abc"]
    policy.assign(state(busy, PENDING, config=CONFIG), RNG)
    plan = policy.plan()
    assert [plan[p] for p in range(21)] == ["a"] * 7 + ["b"] * 7 + ["c"] * 7


def test_an_idle_agent_takes_a_quarter_of_its_queue_but_not_less_than_the_floor() -> None:
    config = PolicyConfig(migration_margin=0.2, max_batch=10)
    policy = MigratingPolicy(config)
    pool = [agent(name) for name in "abc"]
    answer = policy.assign(state(pool, PENDING, config=config), RNG)
    assert [len(a.partition_ids) for a in answer] == [6, 6, 6]  # 2 x ceil(10 / 4) > 7 / 4
