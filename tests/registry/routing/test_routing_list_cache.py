"""Strategies that cache per candidate list must follow in-place changes to the list.

The router passes the same list object again and again and replaces entries in place when a
load report arrives; each test compares a strategy fed one mutating list with a fresh strategy
(or a reference) fed a fresh copy, so a stale cache shows up as a difference.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from registry.routing import (
    Candidate,
    Priority,
    RoutingStrategy,
    WeightedStrategy,
    make_strategy,
)
from tests.registry.routing.support import agents, candidate_lists, load_infos, loaded, request


@settings(max_examples=40)
@given(
    candidates=candidate_lists(min_size=2),
    priority=st.sampled_from([Priority.CRITICAL, Priority.HIGH, Priority.LOW]),
    data=st.data(),
)
def test_priority_follows_entries_replaced_in_place(
    candidates: list[Candidate], priority: Priority, data: st.DataObject
) -> None:
    cached = make_strategy(RoutingStrategy.PRIORITY)
    for _ in range(6):
        assert cached.select(candidates, request(priority=priority)) == make_strategy(
            RoutingStrategy.PRIORITY
        ).select(list(candidates), request(priority=priority))
        index = data.draw(st.integers(0, len(candidates) - 1))
        load = data.draw(st.none() | load_infos)
        candidates[index] = dataclasses.replace(
            candidates[index],
            health=data.draw(st.floats(0, 1)),
            load=None if load is None else load.model_copy(update={"agent_id": "x"}),
        )


@settings(max_examples=40)
@given(candidates=candidate_lists(min_size=2), data=st.data())
def test_broadcast_and_hashing_follow_agents_replaced_in_place(
    candidates: list[Candidate], data: st.DataObject
) -> None:
    strategies = {kind: make_strategy(kind) for kind in RoutingStrategy}
    for step in range(6):
        ids = [c.agent_id for c in candidates]
        for kind, strategy in strategies.items():
            chosen = strategy.select(candidates, request(key=f"k{step}"))
            if kind is RoutingStrategy.BROADCAST:
                assert chosen == ids
            else:
                assert chosen[0] in ids
        hashing = RoutingStrategy.CONSISTENT_HASH
        fresh = make_strategy(hashing).select(list(candidates), request(key=f"k{step}"))
        assert strategies[hashing].select(candidates, request(key=f"k{step}")) == fresh
        index = data.draw(st.integers(0, len(candidates) - 1))
        candidates[index] = Candidate(agent_id=f"new-{step}")


def test_broadcast_result_belongs_to_the_caller() -> None:
    strategy = make_strategy(RoutingStrategy.BROADCAST)
    candidates = agents(3)
    strategy.select(candidates, request()).append("intruder")
    assert strategy.select(candidates, request()) == ["agent-0", "agent-1", "agent-2"]


def _nginx(candidates: list[Candidate], picks: int, current: dict[str, float]) -> list[str]:
    """The reference smooth weighted round robin, one O(n) scan per pick."""
    result = []
    for _ in range(picks):
        total = sum(c.weight * c.health for c in candidates)
        equal = total <= 0.0
        if equal:
            total = float(len(candidates))
        best, best_value = "", float("-inf")
        for c in candidates:
            value = current.get(c.agent_id, 0.0) + (1.0 if equal else c.weight * c.health)
            current[c.agent_id] = value
            if value > best_value:
                best, best_value = c.agent_id, value
        current[best] = best_value - total
        for agent_id in [a for a in current if a not in {c.agent_id for c in candidates}]:
            del current[agent_id]
        result.append(best)
    return result


@settings(max_examples=40)
@given(
    weights=st.lists(st.integers(0, 6), min_size=1, max_size=8),
    healths=st.lists(st.sampled_from([0.25, 0.5, 1.0]), min_size=8, max_size=8),
    data=st.data(),
)
def test_weighted_matches_nginx_while_the_list_changes(
    weights: list[int], healths: list[float], data: st.DataObject
) -> None:
    candidates = [
        Candidate(agent_id=f"agent-{i}", weight=w, health=healths[i]) for i, w in enumerate(weights)
    ]
    strategy = WeightedStrategy()
    reference: dict[str, float] = {}
    for step in range(5):
        picks = data.draw(st.integers(1, 20))
        got = [strategy.select(candidates, request())[0] for _ in range(picks)]
        assert got == _nginx(candidates, picks, reference)
        change = data.draw(st.sampled_from(["load", "weight", "leave", "join"]))
        index = data.draw(st.integers(0, len(candidates) - 1))
        if change == "load":
            candidates[index] = dataclasses.replace(
                candidates[index], load=loaded(candidates[index].agent_id, queue=step).load
            )
        elif change == "weight":
            candidates[index] = dataclasses.replace(
                candidates[index], weight=data.draw(st.integers(0, 6))
            )
        elif change == "leave" and len(candidates) > 1:
            del candidates[index]
        else:
            candidates.append(Candidate(agent_id=f"joined-{step}", weight=2))


def test_weighted_exact_shares_over_a_large_cached_list() -> None:
    candidates = [Candidate(agent_id=f"agent-{i}", weight=1 + i % 3) for i in range(300)]
    strategy = WeightedStrategy()
    rng = random.Random(3)
    counts: Counter[str] = Counter()
    for n in range(2 * sum(c.weight for c in candidates)):
        if n % 50 == 0:  # load reports replace entries in place without changing weights
            i = rng.randrange(len(candidates))
            candidates[i] = dataclasses.replace(candidates[i], load=loaded("x", queue=n % 90).load)
        counts[strategy.select(candidates, request())[0]] += 1
    assert all(counts[c.agent_id] == 2 * c.weight for c in candidates)
