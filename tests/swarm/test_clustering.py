"""CLUSTERING: groups pinned to agents by rendezvous on their key, under a load cap."""

from __future__ import annotations

import random

from swarm.policies import ClusteringPolicy
from swarm.policies.common import rendezvous_order
from swarm.scheduling import AgentView, Assignment, PartitionView, PolicyConfig
from tests.swarm.helpers import agent, part, state

RNG = random.Random(0)
AGENTS = [f"agent-{i}" for i in range(6)]


def busy(names: list[str], **fields: bool) -> list[AgentView]:
    """Healthy agents that are all busy: placement happens, nothing is handed out."""
    return [agent(name, idle=False, **fields) for name in names]


def placed(policy: ClusteringPolicy, pending: list[PartitionView]) -> dict[str, set[str]]:
    """The agents each group's partitions are pinned to."""
    pins = policy.pins()
    grouped: dict[str, set[str]] = {}
    for partition in pending:
        grouped.setdefault(str(partition.key), set()).add(pins[partition.partition_id])
    return grouped


def test_each_group_is_pinned_to_its_rendezvous_agent() -> None:
    config = PolicyConfig(load_cap=100.0)
    pending = [part(i, items=10, key=f"region-{i % 3}") for i in range(12)]
    policy = ClusteringPolicy(config)
    policy.assign(state(busy(AGENTS), pending, config=config), RNG)
    top = {f"region-{k}": rendezvous_order(AGENTS, f"key:region-{k}")[0] for k in range(3)}
    assert placed(policy, pending) == {key: {agent_id} for key, agent_id in top.items()}
    assert policy.homes() == top


def test_idle_agents_take_their_own_group_by_group() -> None:
    config = PolicyConfig(load_cap=100.0, max_batch=100)
    pending = [part(i, items=10, key=f"region-{i % 3}") for i in range(12)]
    policy = ClusteringPolicy(config)
    pool = [agent(a) for a in AGENTS]
    answer = policy.assign(state(pool, pending, config=config, revision=1), RNG)
    homes = policy.homes()
    for assignment in answer:
        keys = [str(pending[p].key) for p in assignment.partition_ids]
        assert keys == sorted(keys)
        assert all(homes[key] == assignment.agent_id for key in keys)
    assert sorted(p for a in answer for p in a.partition_ids) == list(range(12))
    assert policy.pins() == {}  # handed out


def test_a_group_that_would_exceed_the_cap_goes_to_the_next_agent() -> None:
    # two groups whose top agent is the same, 100 items each; 4 agents, 400 items: cap 125
    agents = AGENTS[:4]
    tops: dict[str, list[str]] = {}
    for n in range(100):
        tops.setdefault(rendezvous_order(agents, f"key:g{n:02d}")[0], []).append(f"g{n:02d}")
    first, second = next(keys for keys in tops.values() if len(keys) >= 2)[:2]
    pending = [part(i, items=50, key=first if i < 2 else second) for i in range(4)]
    config = PolicyConfig(load_cap=1.25)
    policy = ClusteringPolicy(config)
    policy.assign(state(busy(agents), pending, config=config, total_items=400), RNG)
    grouped = placed(policy, pending)
    assert grouped[first] == {rendezvous_order(agents, f"key:{first}")[0]}
    assert grouped[second] == {rendezvous_order(agents, f"key:{second}")[1]}
    assert max(policy.loads().values()) <= 125


def test_loads_respect_the_cap_when_groups_fit() -> None:
    config = PolicyConfig(load_cap=1.25)
    pending = [part(i, items=100, key=f"r{i % 6}") for i in range(24)]  # 6 groups x 400
    policy = ClusteringPolicy(config)
    policy.assign(state(busy(AGENTS), pending, config=config), RNG)
    assert max(policy.loads().values()) <= 1.25 * 2400 / 6
    assert all(len(agents) == 1 for agents in placed(policy, pending).values())


def test_a_group_bigger_than_the_cap_is_split_in_rendezvous_order() -> None:
    agents = AGENTS[:4]
    config = PolicyConfig(load_cap=1.25)  # cap = 1.25 x 1000 / 4 = 312.5
    pending = [part(i, items=100, key="big") for i in range(10)]
    policy = ClusteringPolicy(config)
    policy.assign(state(busy(agents), pending, config=config), RNG)
    order = rendezvous_order(agents, "key:big")
    pins = policy.pins()
    expected = [order[0]] * 3 + [order[1]] * 3 + [order[2]] * 3 + [order[3]]
    assert [pins[i] for i in range(10)] == expected


def test_a_group_seen_through_a_window_stays_home_while_there_is_room() -> None:
    config = PolicyConfig(load_cap=1.0)  # cap = 1000 / 2 = 500
    agents = AGENTS[:2]
    policy = ClusteringPolicy(config)
    order = rendezvous_order(agents, "key:r")
    for start in range(0, 8, 2):  # the group comes into view two partitions at a time
        window = [part(i, items=100, key="r") for i in range(start, start + 2)]
        policy.assign(state(busy(agents), window, config=config, total_items=1000), RNG)
    pins = policy.pins()
    assert [pins[i] for i in range(8)] == [order[0]] * 5 + [order[1]] * 3


def test_pins_are_stable_and_agents_only_take_their_own() -> None:
    config = PolicyConfig(max_batch=2)
    pending = [part(i, items=10, key=f"r{i % 3}") for i in range(9)]
    pool = AGENTS[:3]
    policy = ClusteringPolicy(config)
    policy.assign(state(busy(pool), pending, config=config), RNG)
    pins = policy.pins()
    owner = pins[0]
    mine = [p.partition_id for p in pending if pins[p.partition_id] == owner]
    mine.sort(key=lambda p: (str(pending[p].key), p))
    one_idle = [agent(name, idle=name == owner) for name in pool]
    answer = policy.assign(state(one_idle, pending, config=config), RNG)
    assert answer == [Assignment(owner, tuple(mine[:2]))]
    assert policy.pins() == {p: a for p, a in pins.items() if p not in mine[:2]}


def test_a_lost_agents_and_failed_partitions_are_placed_again() -> None:
    config = PolicyConfig(load_cap=100.0)
    pending = [part(i, items=10, key="r") for i in range(4)]
    pool = AGENTS[:3]
    order = rendezvous_order(pool, "key:r")
    policy = ClusteringPolicy(config)
    policy.assign(state(busy(pool), pending, config=config), RNG)
    assert set(policy.pins().values()) == {order[0]}
    lost = [agent(name, idle=False, healthy=name != order[0]) for name in pool]
    policy.assign(state(lost, pending, config=config), RNG)
    assert set(policy.pins().values()) == {order[1]}
    assert policy.homes() == {"r": order[1]}
    assert policy.loads()[order[0]] == 0
    failed = [part(0, items=10, key="r", attempts=1, failed_on=(order[1],)), *pending[1:]]
    policy.assign(state(busy(pool), failed, config=config), RNG)
    assert policy.pins()[0] == order[0]  # healthy again, and it did not fail there
    assert {policy.pins()[i] for i in (1, 2, 3)} == {order[1]}
    assert policy.homes() == {"r": order[1]}  # one failed partition does not move the group


# -- rules revision 2 ------------------------------------------------------------------


def test_an_idle_agent_takes_half_of_its_pinned_queue_so_the_rest_can_be_stolen() -> None:
    config = PolicyConfig(load_cap=100.0, max_batch=100)
    pending = [part(i, items=10, key="region-0") for i in range(12)]
    policy = ClusteringPolicy(config)
    (answer,) = policy.assign(state([agent(a) for a in AGENTS], pending, config=config), RNG)
    assert len(answer.partition_ids) == 6
    assert len(policy.pins()) == 6


def test_a_group_keyed_with_a_location_goes_to_an_agent_there() -> None:
    pool = [agent(a, location="eu-west" if a == AGENTS[-1] else "ap-south") for a in AGENTS]
    pending = [part(i, items=10, key="eu-west") for i in range(4)]
    config = PolicyConfig(load_cap=100.0)
    policy = ClusteringPolicy(config)
    policy.assign(state(pool, pending, config=config), RNG)
    assert policy.homes() == {"eu-west": AGENTS[-1]}
