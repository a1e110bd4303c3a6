"""The registry benchmark's workload: what it sends is what its docstring says it sends."""

from __future__ import annotations

import random
from collections import Counter

from bench.registry import CAPABILITIES, fleet, heartbeat_batches, percentile, query_mix, reading


def test_heartbeat_batches_hold_distinct_agents_and_add_up_to_the_total() -> None:
    rng = random.Random(1)
    readings = {agent.agent_id: reading(rng) for agent in fleet(1200, rng)}

    batches = heartbeat_batches(readings, total=3100, size=500)

    assert [len(b) for b in batches] == [500] * 6 + [100]
    sent = Counter(agent_id for batch in batches for agent_id in batch)
    assert sum(sent.values()) == 3100
    assert set(sent.values()) == {2, 3}  # cycling through the fleet, evenly
    assert all(batch[a] == readings[a] for batch in batches for a in batch)


def test_one_capability_narrows_the_fleet_to_about_a_tenth() -> None:
    agents = fleet(5000, random.Random(2))

    having = Counter(c for agent in agents for c in agent.capabilities)

    assert set(having) == set(CAPABILITIES)
    assert min(having.values()) >= 350 and max(having.values()) <= 650


def test_the_query_mix_has_exactly_one_query_without_a_capability_filter() -> None:
    mix = query_mix(random.Random(3))

    assert len(mix) == 20
    assert sum("capabilities" not in query for query in mix) == 1


def test_the_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)
