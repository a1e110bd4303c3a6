from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.core.exceptions import ValidationError
from registry.routing import (
    Candidate,
    FailoverStrategy,
    LeastLoadedStrategy,
    Priority,
    PriorityStrategy,
    RoundRobinStrategy,
    RoutingStrategy,
    Strategy,
    WeightedStrategy,
    load_score,
    make_strategy,
)
from tests.registry.routing.support import agents, candidate_lists, loaded, request

# --- every strategy -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RoutingStrategy))
def test_every_strategy_routes_nowhere_without_candidates(kind: RoutingStrategy) -> None:
    strategy = make_strategy(kind, rng=random.Random(1))
    for priority in Priority:
        assert strategy.select([], request(key="k", priority=priority)) == []
        assert strategy.select([], request(key=None, priority=priority)) == []


@pytest.mark.parametrize("kind", list(RoutingStrategy))
def test_make_strategy_builds_a_strategy_of_the_requested_kind(kind: RoutingStrategy) -> None:
    strategy = make_strategy(RoutingStrategy(kind.value))
    assert isinstance(strategy, Strategy)
    assert strategy.kind is kind


@settings(max_examples=60)
@given(
    kind=st.sampled_from(list(RoutingStrategy)),
    candidates=candidate_lists(),
    keys=st.lists(st.none() | st.text(max_size=8), min_size=1, max_size=6),
    priority=st.sampled_from(list(Priority)),
    seed=st.integers(0, 2**32),
)
def test_every_strategy_picks_only_among_the_candidates(
    kind: RoutingStrategy,
    candidates: list[Candidate],
    keys: list[str | None],
    priority: Priority,
    seed: int,
) -> None:
    strategy = make_strategy(kind, rng=random.Random(seed))
    ids = [c.agent_id for c in candidates]
    for key in keys:
        # Shrinking candidate sets (an agent leaving) must never yield a departed agent.
        for current in (candidates, candidates[1:] or candidates):
            chosen = strategy.select(current, request(key=key, priority=priority))
            current_ids = [c.agent_id for c in current]
            if kind is RoutingStrategy.BROADCAST:
                assert chosen == current_ids
            else:
                assert len(chosen) == 1
                assert chosen[0] in current_ids
                assert chosen[0] in ids


# --- ROUND_ROBIN ----------------------------------------------------------------------------


@given(
    n=st.integers(1, 8),
    rules=st.lists(st.sampled_from(["a", "b", "c"]), max_size=200),
)
def test_round_robin_counts_differ_by_at_most_one_within_every_rule(
    n: int, rules: list[str]
) -> None:
    strategy = RoundRobinStrategy()
    candidates = agents(n)
    counts: dict[str, Counter[str]] = {rule: Counter() for rule in "abc"}
    for rule in rules:
        (chosen,) = strategy.select(candidates, request(rule))
        counts[rule][chosen] += 1
        per_agent = [counts[rule][c.agent_id] for c in candidates]
        assert max(per_agent) - min(per_agent) <= 1


@given(others=st.lists(st.integers(0, 3), min_size=10, max_size=10))
def test_round_robin_rules_do_not_shift_each_other(others: list[int]) -> None:
    candidates = agents(4)
    alone = RoundRobinStrategy()
    expected = [alone.select(candidates, request("a")) for _ in range(10)]
    shared = RoundRobinStrategy()
    observed = []
    for extra in others:
        for _ in range(extra):
            shared.select(candidates, request("b"))
        observed.append(shared.select(candidates, request("a")))
    assert observed == expected


def test_round_robin_rotates_on_consecutive_identical_calls() -> None:
    strategy = RoundRobinStrategy()
    candidates = agents(3)
    picks = [strategy.select(candidates, request())[0] for _ in range(6)]
    assert picks == ["agent-0", "agent-1", "agent-2"] * 2


@given(
    before=st.integers(0, 20),
    first=st.integers(1, 8),
    second=st.integers(1, 8),
    calls=st.integers(0, 50),
)
def test_round_robin_stays_fair_after_the_candidates_change(
    before: int, first: int, second: int, calls: int
) -> None:
    strategy = RoundRobinStrategy()
    for _ in range(before):
        strategy.select(agents(first), request())
    changed = agents(second, prefix="other")
    counts = Counter(strategy.select(changed, request())[0] for _ in range(calls))
    per_agent = [counts[c.agent_id] for c in changed]
    assert max(per_agent) - min(per_agent) <= 1


def test_forgetting_a_rule_restarts_its_rotation() -> None:
    strategy = RoundRobinStrategy()
    candidates = agents(3)
    strategy.select(candidates, request())
    strategy.forget("rule")
    assert strategy.select(candidates, request()) == ["agent-0"]


# --- LEAST_LOADED ---------------------------------------------------------------------------

scores = st.tuples(st.integers(0, 200), st.integers(1, 200), st.floats(0, 1))


def _from_scores(specs: list[tuple[int, int, float]]) -> list[Candidate]:
    return [
        loaded(f"agent-{i}", queue=queue, capacity=capacity, error_rate=errors)
        for i, (queue, capacity, errors) in enumerate(specs)
    ]


@given(a=scores, b=scores, seed=st.integers(0, 2**32))
def test_least_loaded_never_picks_the_worse_of_two(
    a: tuple[int, int, float], b: tuple[int, int, float], seed: int
) -> None:
    candidates = _from_scores([a, b])
    low, high = sorted(candidates, key=load_score)
    strategy = LeastLoadedStrategy(rng=random.Random(seed))
    picks = {strategy.select(candidates, request())[0] for _ in range(10)}
    if load_score(low) != load_score(high):
        assert picks == {low.agent_id}


@given(specs=st.lists(scores, min_size=2, max_size=10), seed=st.integers(0, 2**32))
def test_least_loaded_never_picks_a_uniquely_worst_candidate(
    specs: list[tuple[int, int, float]], seed: int
) -> None:
    candidates = _from_scores(specs)
    ranked = sorted(candidates, key=load_score)
    worst = ranked[-1]
    strategy = LeastLoadedStrategy(rng=random.Random(seed))
    picks = {strategy.select(candidates, request())[0] for _ in range(20)}
    if load_score(worst) > load_score(ranked[-2]):
        assert worst.agent_id not in picks


def test_least_loaded_is_deterministic_with_a_seeded_rng() -> None:
    candidates = _from_scores([(i * 7 % 11, 10, 0.0) for i in range(8)])
    first, again = (LeastLoadedStrategy(rng=random.Random(42)) for _ in range(2))
    picks = [first.select(candidates, request())[0] for _ in range(50)]
    assert picks == [again.select(candidates, request())[0] for _ in range(50)]
    assert len(set(picks)) > 1


def test_least_loaded_spreads_work_over_equally_loaded_agents() -> None:
    strategy = LeastLoadedStrategy(rng=random.Random(7))
    candidates = agents(3)
    counts = Counter(strategy.select(candidates, request())[0] for _ in range(3000))
    assert all(800 <= counts[c.agent_id] <= 1200 for c in candidates)


def test_an_agent_without_a_load_report_counts_as_idle() -> None:
    candidates = [loaded("busy", queue=50), Candidate(agent_id="new", health=1.0)]
    strategy = LeastLoadedStrategy(rng=random.Random(0))
    assert {strategy.select(candidates, request())[0] for _ in range(10)} == {"new"}


def test_least_loaded_returns_a_lone_candidate() -> None:
    assert LeastLoadedStrategy().select(agents(1), request()) == ["agent-0"]


# --- WEIGHTED -------------------------------------------------------------------------------


@given(
    weights=st.lists(st.integers(0, 10), min_size=1, max_size=6).filter(any),
    rounds=st.integers(1, 4),
)
def test_weighted_gives_every_agent_exactly_its_share(weights: list[int], rounds: int) -> None:
    candidates = [
        Candidate(agent_id=f"agent-{i}", health=1.0, weight=w) for i, w in enumerate(weights)
    ]
    strategy = WeightedStrategy()
    counts = Counter(
        strategy.select(candidates, request())[0] for _ in range(rounds * sum(weights))
    )
    assert [counts[c.agent_id] for c in candidates] == [rounds * w for w in weights]


def test_weighted_interleaves_picks_like_nginx() -> None:
    candidates = [
        Candidate(agent_id="a", weight=5),
        Candidate(agent_id="b", weight=1),
        Candidate(agent_id="c", weight=1),
    ]
    strategy = WeightedStrategy()
    picks = [strategy.select(candidates, request())[0] for _ in range(7)]
    assert picks == ["a", "a", "b", "a", "c", "a", "a"]


def test_weighted_scales_weight_by_health() -> None:
    candidates = [
        Candidate(agent_id="fit", health=1.0, weight=1),
        Candidate(agent_id="degraded", health=0.5, weight=1),
    ]
    strategy = WeightedStrategy()
    counts = Counter(strategy.select(candidates, request())[0] for _ in range(300))
    assert counts == {"fit": 200, "degraded": 100}


def test_weighted_treats_all_zero_weights_as_equal() -> None:
    candidates = [Candidate(agent_id=f"agent-{i}", weight=0) for i in range(3)]
    strategy = WeightedStrategy()
    counts = Counter(strategy.select(candidates, request())[0] for _ in range(30))
    assert counts == {"agent-0": 10, "agent-1": 10, "agent-2": 10}


def test_weighted_keeps_one_schedule_per_rule() -> None:
    candidates = [Candidate(agent_id="a", weight=2), Candidate(agent_id="b", weight=1)]
    strategy = WeightedStrategy()
    strategy.select(candidates, request("other"))
    picks = [strategy.select(candidates, request("rule"))[0] for _ in range(3)]
    assert picks == ["a", "b", "a"]


def test_weighted_shares_hold_after_an_agent_leaves() -> None:
    strategy = WeightedStrategy()
    three = [Candidate(agent_id=name, weight=w) for name, w in (("a", 3), ("b", 2), ("c", 1))]
    for _ in range(4):
        strategy.select(three, request())
    two = three[:2]
    counts = Counter(strategy.select(two, request())[0] for _ in range(500))
    assert counts["a"] == pytest.approx(300, abs=2)
    assert counts["b"] == pytest.approx(200, abs=2)


# --- CONTENT_BASED and BROADCAST ------------------------------------------------------------


def test_content_based_takes_the_rules_first_target() -> None:
    strategy = make_strategy(RoutingStrategy.CONTENT_BASED)
    candidates = [loaded("preferred", queue=90), loaded("idle")]
    assert strategy.select(candidates, request()) == ["preferred"]


def test_broadcast_sends_to_every_candidate_in_order() -> None:
    strategy = make_strategy(RoutingStrategy.BROADCAST)
    assert strategy.select(agents(3), request()) == ["agent-0", "agent-1", "agent-2"]


# --- PRIORITY -------------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [Priority.CRITICAL, Priority.HIGH])
def test_urgent_messages_go_to_the_healthiest_agent(priority: Priority) -> None:
    candidates = [
        loaded("idle-but-shaky", health=0.7),
        loaded("healthy-busy", health=1.0, queue=80),
        loaded("healthy-idle", health=1.0, queue=10),
        loaded("healthy-idle-later", health=1.0, queue=10),
    ]
    strategy = PriorityStrategy(rng=random.Random(0))
    assert strategy.select(candidates, request(priority=priority)) == ["healthy-idle"]


def test_normal_messages_go_to_the_less_loaded_agent() -> None:
    candidates = [loaded("busy", queue=90), loaded("idle", queue=5, health=0.6)]
    strategy = PriorityStrategy(rng=random.Random(0))
    picks = {strategy.select(candidates, request(priority=Priority.NORMAL))[0] for _ in range(10)}
    assert picks == {"idle"}


def test_low_priority_messages_soak_up_spare_capacity() -> None:
    small = loaded("small", queue=50, capacity=100)  # 50 free, half full
    large = loaded("large", queue=600, capacity=1000)  # 400 free, more utilised
    assert load_score(small) < load_score(large)
    strategy = PriorityStrategy(rng=random.Random(0))
    assert strategy.select([small, large], request(priority=Priority.LOW)) == ["large"]


def test_low_priority_prefers_known_spare_capacity_over_an_unreported_agent() -> None:
    candidates = [Candidate(agent_id="unknown"), loaded("known", queue=90, capacity=100)]
    strategy = PriorityStrategy()
    assert strategy.select(candidates, request(priority=Priority.LOW)) == ["known"]


# --- FAILOVER -------------------------------------------------------------------------------


def test_failover_uses_the_primary_while_it_can_take_work() -> None:
    candidates = [loaded("primary", queue=99), loaded("backup")]
    assert FailoverStrategy().select(candidates, request()) == ["primary"]


@pytest.mark.parametrize(
    "primary",
    [
        loaded("primary", health=0.4),
        loaded("primary", queue=100, capacity=100),
        loaded("primary", ejected=True),
    ],
    ids=["unhealthy", "overloaded", "ejected"],
)
def test_failover_skips_a_primary_that_cannot_take_work(primary: Candidate) -> None:
    candidates = [primary, loaded("secondary", queue=120, capacity=100), loaded("tertiary")]
    assert FailoverStrategy().select(candidates, request()) == ["tertiary"]


def test_failover_falls_back_to_the_least_bad_candidate() -> None:
    candidates = [
        loaded("ejected-healthy", health=1.0, ejected=True),
        loaded("shaky", health=0.2),
        loaded("less-shaky-overloaded", health=0.3, queue=300),
        loaded("less-shaky", health=0.3, queue=200),
    ]
    assert FailoverStrategy().select(candidates, request()) == ["less-shaky"]


def test_failover_honours_its_health_threshold() -> None:
    candidates = [loaded("primary", health=0.8), loaded("backup")]
    assert FailoverStrategy(health_threshold=0.9).select(candidates, request()) == ["backup"]
    with pytest.raises(ValidationError):
        FailoverStrategy(health_threshold=1.5)
