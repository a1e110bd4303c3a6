"""Discovery from the in-memory snapshot: the same answers as the database, and how it keeps
up with other registry processes. Both backends, a fresh database per test, a controlled
clock; re-synchronisations are driven explicitly with ``refresh``."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestration.core.exceptions import AgentNotFoundError
from registry.discovery import DiscoveryQuery
from registry.health.policy import HealthPolicy
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor, AgentStatus, ServiceType
from registry.records import HeartbeatMetrics, HeartbeatSample
from registry.store.agents import AgentStore
from registry.store.engine import create_engine
from tests.registry.clock import Clock

# So long that no background flush, health check or re-synchronisation (nor the staleness
# guard) runs during a test: each test drives them.
NEVER_S = 3600.0
# Late after 15 s, silent (INACTIVE) after 30 s, removed after 100 s.
POLICY = HealthPolicy(
    heartbeat_interval_s=10, health_check_interval_s=NEVER_S, deregistration_timeout_s=100
)
CAPABILITIES = [f"cap_{n}" for n in range(8)]
REGIONS = ["us-east-1", "eu-west-1", "ap-south-1"]
VERSIONS = ["1.0.0", "1.4.2", "2.0.0", "2.1.0rc1", "2.3.0", "3.0.0-beta.1"]


@pytest_asyncio.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(empty_database_url)
    yield created
    await created.dispose()


def registry_on(engine: AsyncEngine, clock: Clock) -> LocalAgentRegistry:
    """A registry that flushes and re-synchronises only when told."""
    return LocalAgentRegistry(
        engine, policy=POLICY, clock=clock, flush_interval_s=NEVER_S, sync_interval_s=NEVER_S
    )


@pytest_asyncio.fixture
async def registry(engine: AsyncEngine, clock: Clock) -> AsyncIterator[LocalAgentRegistry]:
    async with registry_on(engine, clock) as opened:
        yield opened


def descriptor(agent_id: str, rng: random.Random) -> AgentDescriptor:
    region = rng.choice(REGIONS)
    metadata: dict[str, Any] = {"location": region.upper()} if rng.random() < 0.2 else {}
    return AgentDescriptor(
        agent_id=agent_id,
        agent_type="Generated",
        version=rng.choice(VERSIONS),
        capabilities=rng.sample(CAPABILITIES, rng.randint(1, 4)),
        service_types=rng.sample(list(ServiceType), rng.randint(0, 2)),
        tags=[region, rng.choice(["prod", "staging"])] if rng.random() < 0.9 else [],
        metadata=metadata,
    )


def metrics(rng: random.Random) -> dict[str, float]:
    # Few distinct values, so that equal health scores (ties broken by id) are common.
    return {
        "cpu_usage": rng.choice([0.2, 0.5, 0.8, 0.95]),
        "error_rate": rng.choice([0.0, 0.0, 0.05, 0.2]),
        "response_time_ms": rng.choice([100, 800, 3000]),
    }


def queries(rng: random.Random, count: int) -> list[dict[str, Any]]:
    generated: list[dict[str, Any]] = [{}, {"max_results": 500}]
    for _ in range(count):
        query: dict[str, Any] = {"max_results": rng.choice([1, 3, 10, 500])}
        if rng.random() < 0.8:
            query["capabilities"] = rng.sample(CAPABILITIES, rng.choice([1, 1, 2]))
        if rng.random() < 0.3:
            query["service_types"] = rng.sample([s.value for s in ServiceType], 2)
        if rng.random() < 0.3:
            query["tags"] = [rng.choice(["prod", "staging", *REGIONS])]
        if rng.random() < 0.3:
            query["version_constraint"] = rng.choice([">=2.0", "<2", "==1.*", ">=2.1.0rc1"])
        if rng.random() < 0.4:
            query["min_health_score"] = rng.choice([0.0, 0.5, 0.8])
        if rng.random() < 0.5:
            query["location_preference"] = rng.choice([*REGIONS, "US-EAST-1", "nowhere"])
        generated.append(query)
    return generated


async def generate_fleet(
    registry: LocalAgentRegistry, clock: Clock, rng: random.Random, size: int
) -> list[str]:
    """Agents registered over 80 s, so that some are fresh, some late and some silent;
    heartbeats flushed and pending; some registered again, some deregistered."""
    ids = [f"agent-{n:03d}" for n in range(size)]
    for index, agent_id in enumerate(ids):
        if index % (size // 8) == 0:
            clock.advance(10)
        await registry.register(descriptor(agent_id, rng))
        if rng.random() < 0.6:
            await registry.heartbeat(agent_id, metrics(rng))
    await registry.flush()
    clock.advance(5)
    for agent_id in rng.sample(ids, size // 3):
        await registry.heartbeat(agent_id, metrics(rng))  # some stay pending
    for agent_id in rng.sample(ids, size // 10):
        await registry.register(descriptor(agent_id, rng))
        if rng.random() < 0.5:  # a pending heartbeat exactly as old as the registration
            await registry.heartbeat(agent_id, metrics(rng))
    for agent_id in rng.sample(ids, size // 20):
        await registry.deregister(agent_id)
    return ids


async def answers_agree(registry: LocalAgentRegistry, generated: list[dict[str, Any]]) -> int:
    """Assert every query has the same answer from the snapshot and from the database;
    return how many agents were found in all."""
    found = 0
    for query in generated:
        from_snapshot = await registry.discover(DiscoveryQuery.build(**query))
        from_database = await registry.discover_from_database(DiscoveryQuery.build(**query))
        assert from_snapshot == from_database, query
        found += len(from_snapshot)
    return found


async def test_discovery_from_the_snapshot_equals_discovery_from_the_database_on_a_fleet(
    registry: LocalAgentRegistry, clock: Clock
) -> None:
    rng = random.Random(20250101)
    await generate_fleet(registry, clock, rng, size=120)

    found = await answers_agree(registry, queries(rng, 60))
    clock.advance(12)  # more agents late, some silent now
    found_later = await answers_agree(registry, queries(rng, 30))

    assert found > 100
    assert found_later > 50
    statuses = {agent.status for agent in await registry.list_agents()}
    assert {AgentStatus.ACTIVE, AgentStatus.DEGRADED, AgentStatus.INACTIVE} <= statuses


async def test_listing_from_the_snapshot_equals_a_fresh_load_from_the_database(
    registry: LocalAgentRegistry, engine: AsyncEngine, clock: Clock
) -> None:
    rng = random.Random(7)
    await generate_fleet(registry, clock, rng, size=40)
    await registry.flush()

    async with registry_on(engine, clock) as fresh:
        assert await registry.list_agents() == await fresh.list_agents()
        for status in AgentStatus:
            assert await registry.list_agents(status) == await fresh.list_agents(status)


async def test_this_registrys_own_changes_show_in_discovery_without_a_refresh(
    registry: LocalAgentRegistry, clock: Clock
) -> None:
    query = {"capabilities": ["cap_0"]}
    await registry.register(AgentDescriptor(agent_id="a", agent_type="T", capabilities=["cap_0"]))
    await registry.register(AgentDescriptor(agent_id="b", agent_type="T", capabilities=["cap_0"]))
    steps = []

    steps.append(await registry.discover(DiscoveryQuery.build(**query)))
    await registry.heartbeat("a", {"error_rate": 0.2})  # pending: health 0.6
    steps.append(await registry.discover(DiscoveryQuery.build(**query)))
    await registry.flush()
    clock.advance(1)
    await registry.register(AgentDescriptor(agent_id="b", agent_type="T", capabilities=["cap_1"]))
    steps.append(await registry.discover(DiscoveryQuery.build(**query)))
    await registry.deregister("a")
    steps.append(await registry.discover(DiscoveryQuery.build(**query)))

    assert [[a.agent_id for a in step] for step in steps] == [["a", "b"], ["b", "a"], ["a"], []]
    assert steps[-1] == await registry.discover_from_database(DiscoveryQuery.build(**query))


async def test_changes_made_through_another_registry_reach_discovery_after_a_refresh(
    registry: LocalAgentRegistry, engine: AsyncEngine, clock: Clock
) -> None:
    rng = random.Random(11)
    ids = await generate_fleet(registry, clock, rng, size=40)
    await registry.flush()
    survivors = [a for a in ids if a in {agent.agent_id for agent in await registry.list_agents()}]
    generated = queries(rng, 30)

    async with registry_on(engine, clock) as other:
        clock.advance(2)
        await other.register(descriptor("newcomer", rng))
        await other.register(descriptor(survivors[0], rng))  # registered again, new descriptor
        for agent_id in survivors[1:15]:
            await other.heartbeat(agent_id, metrics(rng))
        await other.deregister(survivors[-1])
    stale = [await registry.discover(DiscoveryQuery.build(**q)) for q in generated]
    fresh = [await registry.discover_from_database(DiscoveryQuery.build(**q)) for q in generated]
    outcome = await registry.refresh()

    assert stale != fresh  # the other registry's writes are not seen before a refresh
    assert (outcome.added, outcome.removed) == (("newcomer",), (survivors[-1],))
    assert outcome.updated >= 15
    await answers_agree(registry, generated)
    async with registry_on(engine, clock) as reloaded:
        assert await registry.list_agents() == await reloaded.list_agents()


async def test_a_deregistration_elsewhere_is_noticed_by_an_incremental_refresh(
    registry: LocalAgentRegistry, engine: AsyncEngine, clock: Clock
) -> None:
    for agent_id in ("a", "b", "c"):
        await registry.register(AgentDescriptor(agent_id=agent_id, agent_type="T"))
    clock.advance(60)
    await registry.refresh()  # the registrations are now past the incremental window

    await AgentStore(engine).delete("b")
    before = [a.agent_id for a in await registry.list_agents()]
    outcome = await registry.refresh()

    assert before == ["a", "b", "c"]
    assert outcome.removed == ("b",)
    assert [a.agent_id for a in await registry.list_agents()] == ["a", "c"]
    with pytest.raises(AgentNotFoundError):
        await registry.heartbeat("b", {})


async def test_a_full_refresh_repairs_a_heartbeat_written_too_late_for_the_incremental_one(
    registry: LocalAgentRegistry, engine: AsyncEngine, clock: Clock
) -> None:
    rng = random.Random(9)
    await registry.register(descriptor("a", rng).model_copy(update={"capabilities": ["x"]}))
    clock.advance(20)
    await registry.refresh()
    clock.advance(20)
    # Another process's heartbeat from 30 s ago, committed only now (its flush was retried
    # through an outage): older than the incremental window.
    late = HeartbeatSample(HeartbeatMetrics(error_rate=0.2), clock.now - timedelta(seconds=30))
    await AgentStore(engine).apply_heartbeats({"a": late})

    await registry.refresh()
    missed = await registry.list_agents()
    await registry.refresh(full=True)
    repaired = await registry.list_agents()

    assert missed[0].heartbeat_count == 0
    assert repaired[0].heartbeat_count == 1
    assert repaired == [await registry.get_agent("a")]


async def test_the_health_check_sees_heartbeats_written_through_another_registry(
    registry: LocalAgentRegistry, engine: AsyncEngine, clock: Clock
) -> None:
    rng = random.Random(13)
    await registry.register(descriptor("a", rng))
    clock.advance(105)  # silent past the deregistration timeout, as far as this registry saw

    async with registry_on(engine, clock) as other:
        await other.heartbeat("a", {"cpu_usage": 0.1})
    summary = await registry.check_health()

    assert (summary.deregistered, summary.changes) == ((), ())
    assert (await registry.get_agent("a")).status is AgentStatus.ACTIVE
    assert [a.agent_id for a in await registry.discover(DiscoveryQuery())] == ["a"]
