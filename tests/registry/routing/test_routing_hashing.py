from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.core.exceptions import ValidationError
from registry.routing import AffinityStrategy, Candidate, ConsistentHashStrategy, hashing
from tests.registry.routing.support import agents, request

KEYS = [f"facility-{i}" for i in range(10_000)]

# --- CONSISTENT_HASH ------------------------------------------------------------------------


def _assign(strategy: ConsistentHashStrategy, candidates: list[Candidate]) -> dict[str, str]:
    return {key: strategy.select(candidates, request(key=key))[0] for key in KEYS}


def test_consistent_hash_is_the_same_in_every_process() -> None:
    # Pinned values: a salted hash (Python's hash()) or a changed scheme would break them.
    candidates = [Candidate(agent_id=a) for a in ("agent-1", "agent-2", "agent-3")]
    keys = ["user-1", "user-2", "user-3", "user-4", "facility-42", ""]
    strategy = ConsistentHashStrategy()
    assert [strategy.select(candidates, request(key=k))[0] for k in keys] == [
        "agent-1",
        "agent-1",
        "agent-3",
        "agent-3",
        "agent-2",
        "agent-1",
    ]


def test_removing_one_of_ten_agents_moves_only_its_keys_about_a_tenth() -> None:
    n = 10
    candidates = agents(n)
    strategy = ConsistentHashStrategy()
    before = _assign(strategy, candidates)
    shares = Counter(before.values())
    assert all(0.7 * len(KEYS) / n <= shares[c.agent_id] <= 1.3 * len(KEYS) / n for c in candidates)
    for removed in (candidates[0], candidates[5]):
        after = _assign(strategy, [c for c in candidates if c is not removed])
        moved = {key for key in KEYS if after[key] != before[key]}
        assert moved == {key for key in KEYS if before[key] == removed.agent_id}
        assert 0.5 / n <= len(moved) / len(KEYS) <= 1.5 / n
        assert removed.agent_id not in after.values()


def test_consistent_hash_remembers_owners_without_changing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A small memo, so the 10,000 keys overflow it and are asked for again after it is cleared.
    monkeypatch.setattr(hashing, "_MEMO_KEYS", 100)
    candidates = agents(7)
    fresh = _assign(ConsistentHashStrategy(), candidates)
    remembering = ConsistentHashStrategy()
    assert _assign(remembering, candidates) == fresh
    assert _assign(remembering, candidates) == fresh


@settings(max_examples=30)
@given(
    n=st.integers(2, 8),
    keys=st.lists(st.text(max_size=10), min_size=1, max_size=20),
    data=st.data(),
)
def test_consistent_hash_ignores_the_order_of_candidates(
    n: int, keys: list[str], data: st.DataObject
) -> None:
    candidates = agents(n)
    shuffled = data.draw(st.permutations(candidates))
    strategy = ConsistentHashStrategy()
    for key in keys:
        assert strategy.select(candidates, request(key=key)) == strategy.select(
            shuffled, request(key=key)
        )


def test_consistent_hash_rotates_requests_without_a_key() -> None:
    strategy = ConsistentHashStrategy()
    picks = [strategy.select(agents(3), request(key=None))[0] for _ in range(3)]
    assert sorted(picks) == ["agent-0", "agent-1", "agent-2"]


# --- AFFINITY -------------------------------------------------------------------------------

key_sequences = st.lists(st.integers(0, 60).map(lambda i: f"sender-{i}"), max_size=150)


@given(n=st.integers(1, 6), keys=key_sequences)
def test_affinity_sends_the_same_key_to_the_same_agent(n: int, keys: list[str]) -> None:
    strategy = AffinityStrategy()
    candidates = agents(n)
    seen: dict[str, str] = {}
    for key in keys:
        (chosen,) = strategy.select(candidates, request(key=key))
        assert seen.setdefault(key, chosen) == chosen


@given(
    n=st.integers(1, 6),
    keys=key_sequences,
    load_factor=st.sampled_from([1.0, 1.1, 1.25, 2.0]),
    max_keys=st.sampled_from([5, 20, 1000]),
)
def test_affinity_never_lets_an_agent_exceed_its_bounded_share(
    n: int, keys: list[str], load_factor: float, max_keys: int
) -> None:
    strategy = AffinityStrategy(load_factor=load_factor, max_keys=max_keys)
    candidates = agents(n)
    for key in keys:
        strategy.select(candidates, request(key=key))
        held = Counter(strategy.assignments("rule").values())
        cap = math.ceil(load_factor * sum(held.values()) / n)
        assert max(held.values()) <= cap


def test_affinity_bounds_the_share_of_keys_that_hash_to_one_agent() -> None:
    strategy = AffinityStrategy(load_factor=1.25)
    candidates = agents(4)
    for key in KEYS[:2000]:
        strategy.select(candidates, request(key=key))
    held = Counter(strategy.assignments("rule").values())
    assert max(held.values()) <= math.ceil(1.25 * 2000 / 4)
    assert set(held) == {c.agent_id for c in candidates}


@settings(max_examples=25)
@given(n=st.integers(2, 6), keys=key_sequences, data=st.data())
def test_affinity_moves_only_the_keys_of_an_agent_that_leaves(
    n: int, keys: list[str], data: st.DataObject
) -> None:
    strategy = AffinityStrategy()
    candidates = agents(n)
    before = {key: strategy.select(candidates, request(key=key))[0] for key in keys}
    removed = data.draw(st.sampled_from(candidates))
    remaining = [c for c in candidates if c is not removed]
    after = {key: strategy.select(remaining, request(key=key))[0] for key in before}
    moved = {key for key in before if after[key] != before[key]}
    assert moved == {key for key, agent in before.items() if agent == removed.agent_id}


def test_affinity_rebalances_onto_agents_that_join() -> None:
    strategy = AffinityStrategy(load_factor=1.25)
    keys = KEYS[:100]
    for key in keys:
        strategy.select(agents(1), request(key=key))
    grown = agents(4)
    for key in keys:
        strategy.select(grown, request(key=key))
    held = Counter(strategy.assignments("rule").values())
    assert set(held) == {c.agent_id for c in grown}
    assert max(held.values()) <= math.ceil(1.25 * 100 / 4)


def test_affinity_remembers_at_most_max_keys_most_recent_first() -> None:
    strategy = AffinityStrategy(max_keys=50)
    for key in KEYS[:500]:
        strategy.select(agents(3), request(key=key))
    remembered = strategy.assignments("rule")
    assert list(remembered) == KEYS[450:500]
    assert max(Counter(remembered.values()).values()) <= math.ceil(1.25 * 50 / 3)


def test_affinity_keeps_rules_apart() -> None:
    strategy = AffinityStrategy()
    strategy.select(agents(2, prefix="x"), request("first", key="k"))
    strategy.select(agents(2, prefix="y"), request("second", key="k"))
    assert set(strategy.assignments("first").values()) <= {"x-0", "x-1"}
    assert set(strategy.assignments("second").values()) <= {"y-0", "y-1"}
    strategy.forget("first")
    assert strategy.assignments("first") == {}
    assert strategy.assignments("second") != {}


def test_affinity_rotates_requests_without_a_key() -> None:
    strategy = AffinityStrategy()
    picks = [strategy.select(agents(3), request(key=None))[0] for _ in range(3)]
    assert sorted(picks) == ["agent-0", "agent-1", "agent-2"]
    assert strategy.assignments("rule") == {}


@pytest.mark.parametrize("settings_", [{"load_factor": 0.9}, {"max_keys": 0}])
def test_affinity_rejects_settings_that_cannot_work(settings_: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        AffinityStrategy(**settings_)  # type: ignore[arg-type]
