"""The registry on both backends, a fresh database per test, driven by a controlled clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestration.core.exceptions import AgentNotFoundError, RegistryError, ValidationError
from registry.discovery import DiscoveryQuery
from registry.health.policy import HealthPolicy
from registry.local_registry import LocalAgentRegistry
from registry.metrics import registry_agent_health, registry_agents_total
from registry.models import AgentDescriptor, AgentStatus, ServiceType
from registry.store.agents import AgentStore
from registry.store.engine import create_engine
from tests.registry.clock import Clock
from tests.registry.statements import recorded_statements

# Late after 15 s, silent (INACTIVE) after 30 s, removed after 100 s.
POLICY = HealthPolicy(
    heartbeat_interval_s=10, health_check_interval_s=20, deregistration_timeout_s=100
)
HEALTHY = {"cpu_usage": 0.4, "error_rate": 0.0, "response_time_ms": 120}


@pytest_asyncio.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(empty_database_url)
    yield created
    await created.dispose()


@pytest_asyncio.fixture
async def registry(engine: AsyncEngine, clock: Clock) -> AsyncIterator[LocalAgentRegistry]:
    async with LocalAgentRegistry(engine, policy=POLICY, clock=clock, background=False) as opened:
        yield opened


def agent(agent_id: str, **fields: Any) -> AgentDescriptor:
    fields.setdefault("capabilities", ["carbon_calculation"])
    return AgentDescriptor(agent_id=agent_id, agent_type="CarbonCalculatorAgent", **fields)


async def status_of(registry: LocalAgentRegistry, agent_id: str) -> AgentStatus:
    return (await registry.get_agent(agent_id)).status


async def test_the_quick_reference_flow_registers_heartbeats_and_discovers(
    registry: LocalAgentRegistry,
) -> None:
    await registry.register(
        AgentDescriptor(
            agent_id="agent-calculator-001",
            agent_type="CarbonCalculatorAgent",
            version="2.1.0",
            capabilities=["carbon_calculation", "scope3_emissions"],
            service_types=[ServiceType.COMPUTATION],
            endpoint="tcp://10.0.1.50:5000",
            tags=["production", "us-east-1"],
        )
    )
    await registry.heartbeat(
        "agent-calculator-001", {"cpu_usage": 0.45, "error_rate": 0.01, "response_time_ms": 234}
    )

    agents = await registry.discover(
        DiscoveryQuery.build(
            capabilities=["carbon_calculation"],
            service_types=[ServiceType.COMPUTATION],
            min_health_score=0.8,
            location_preference="us-east-1",
            max_results=10,
        )
    )
    agent_read = await registry.get_agent("agent-calculator-001")

    assert [a.descriptor.agent_id for a in agents] == ["agent-calculator-001"]
    assert agent_read.health_score == pytest.approx(0.98)
    assert agent_read.status is AgentStatus.ACTIVE
    assert agent_read.heartbeat_count == 1


async def test_an_agent_goes_degraded_inactive_and_is_deregistered_as_it_stays_silent(
    registry: LocalAgentRegistry, clock: Clock
) -> None:
    await registry.register(agent("a"))
    await registry.heartbeat("a", HEALTHY)
    seen = []

    for seconds in (20, 15, 70):  # silent 20 s, 35 s, 105 s
        clock.advance(seconds)
        summary = await registry.check_health()
        seen.append([(c.old, c.new) for c in summary.changes])

    assert seen == [
        [(AgentStatus.ACTIVE, AgentStatus.DEGRADED)],
        [(AgentStatus.DEGRADED, AgentStatus.INACTIVE)],
        [],
    ]
    assert summary.deregistered == ("a",)
    with pytest.raises(AgentNotFoundError):
        await registry.get_agent("a")
    with pytest.raises(AgentNotFoundError):
        await registry.heartbeat("a", HEALTHY)


async def test_an_agent_is_active_again_as_soon_as_healthy_heartbeats_resume(
    registry: LocalAgentRegistry, clock: Clock, engine: AsyncEngine
) -> None:
    await registry.register(agent("a"))
    clock.advance(40)
    await registry.check_health()
    assert await status_of(registry, "a") is AgentStatus.INACTIVE

    await registry.heartbeat("a", HEALTHY)

    assert await status_of(registry, "a") is AgentStatus.ACTIVE  # read through, before a flush
    await registry.flush()
    listed = await registry.list_agents(status=AgentStatus.ACTIVE)
    assert [a.agent_id for a in listed] == ["a"]
    assert (await registry.check_health()).changes == ()  # the flush already wrote ACTIVE


async def test_unhealthy_metrics_degrade_an_agent_that_heartbeats_on_time(
    registry: LocalAgentRegistry,
) -> None:
    await registry.register(agent("a"))

    await registry.heartbeat("a", {"error_rate": 0.2})  # 0.2 + 0.5*0.2 + 0.3 = 0.6
    await registry.flush()
    degraded = await registry.get_agent("a")
    await registry.heartbeat("a", {"cpu_usage": 1.0, "error_rate": 0.25, "response_time_ms": 5000})
    await registry.flush()
    inactive = await registry.get_agent("a")

    assert degraded.status is AgentStatus.DEGRADED
    assert degraded.health_score == pytest.approx(0.6)
    assert (inactive.status, inactive.health_score) == (AgentStatus.INACTIVE, 0.0)


async def test_self_preservation_pauses_eviction_when_most_agents_go_silent_at_once(
    registry: LocalAgentRegistry, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for agent_id in ("a", "b", "c", "d"):
        await registry.register(agent(agent_id))
    clock.advance(150)
    await registry.heartbeat("d", HEALTHY)  # 3 of 4 silent: a partition, not a mass death

    with caplog.at_level(logging.INFO, logger="registry"):
        paused = await registry.check_health()
        assert REGISTRY.get_sample_value("registry_self_preservation") == 1
        for agent_id in ("e", "f", "g", "h"):  # the fleet grows: 3 of 8 are silent
            await registry.register(agent(agent_id))
        resumed = await registry.check_health()

    assert (paused.eviction_paused, paused.silent, paused.deregistered) == (True, 3, ())
    assert registry.eviction_paused is False
    assert (resumed.eviction_paused, resumed.deregistered) == (False, ("a", "b", "c"))
    assert REGISTRY.get_sample_value("registry_self_preservation") == 0
    assert "self-preservation on: 3 of 4 agents are silent" in caplog.text
    assert "self-preservation off" in caplog.text
    assert [a.agent_id for a in await registry.list_agents()] == ["d", "e", "f", "g", "h"]


async def test_discovery_filters_by_capabilities_service_types_tags_version_and_health(
    registry: LocalAgentRegistry,
) -> None:
    await registry.register(
        agent("calc-2", version="2.1.0", service_types=[ServiceType.COMPUTATION], tags=["prod"])
    )
    await registry.register(
        agent("calc-10", version="10.0.0", service_types=[ServiceType.COMPUTATION], tags=["prod"])
    )
    await registry.register(
        agent(
            "calc-scope3",
            version="2.5.0",
            capabilities=["carbon_calculation", "scope3_emissions"],
            service_types=[ServiceType.ANALYSIS],
            tags=["staging"],
        )
    )
    await registry.register(agent("calc-sick", version="2.2.0"))
    await registry.heartbeat("calc-sick", {"error_rate": 0.2})  # health 0.6

    async def ids(**query: Any) -> list[str]:
        return [a.agent_id for a in await registry.discover(DiscoveryQuery.build(**query))]

    assert await ids(capabilities=["carbon_calculation", "scope3_emissions"]) == ["calc-scope3"]
    assert await ids(service_types=[ServiceType.ANALYSIS]) == ["calc-scope3"]
    assert await ids(service_types=["computation", "analysis"]) == [
        "calc-10",
        "calc-2",
        "calc-scope3",
    ]
    assert await ids(tags=["staging", "nowhere"]) == ["calc-scope3"]
    assert await ids(version_constraint=">=2.0,<3", min_health_score=0.7) == [
        "calc-2",
        "calc-scope3",
    ]
    assert await ids(version_constraint=">9.0") == ["calc-10"]
    assert (await ids(min_health_score=0.0))[-1:] == ["calc-sick"]  # least healthy last
    assert await ids(capabilities=["unknown"]) == []


async def test_discovery_ranks_the_preferred_location_first_even_when_less_healthy(
    registry: LocalAgentRegistry,
) -> None:
    await registry.register(agent("eu-fast", tags=["eu-west-1"]))
    await registry.register(agent("us-slow", tags=["us-east-1"]))
    await registry.register(agent("us-slower", metadata={"location": "US-EAST-1"}))
    await registry.register(agent("us-b", tags=["us-east-1"]))
    await registry.register(agent("us-a", tags=["us-east-1"]))
    await registry.heartbeat("us-slow", {"response_time_ms": 2750})  # 0.85
    await registry.heartbeat("us-slower", {"response_time_ms": 4100})  # 0.76

    agents = await registry.discover(
        DiscoveryQuery.build(capabilities=["carbon_calculation"], location_preference="us-east-1")
    )
    top = await registry.discover(
        DiscoveryQuery.build(location_preference="eu-west-1", max_results=2)
    )

    assert [a.agent_id for a in agents] == ["us-a", "us-b", "us-slow", "us-slower", "eu-fast"]
    assert [a.agent_id for a in top] == ["eu-fast", "us-a"]


async def test_discovery_never_returns_inactive_agents_whatever_the_minimum_health(
    registry: LocalAgentRegistry, clock: Clock
) -> None:
    await registry.register(agent("silent"))
    clock.advance(35)  # INACTIVE: silent for more than three heartbeat intervals
    await registry.register(agent("fresh"))

    found = await registry.discover(
        DiscoveryQuery.build(capabilities=["carbon_calculation"], min_health_score=0.0)
    )

    assert [a.agent_id for a in found] == ["fresh"]
    assert (await registry.get_agent("silent")).status is AgentStatus.INACTIVE


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"version_constraint": "^2.0"}, "version_constraint"),
        ({"min_health_score": 1.5}, "min_health_score"),
        ({"max_results": 0}, "max_results"),
        ({"service_types": ["teleportation"]}, "service_types"),
        ({"capabilities": "carbon_calculation"}, "capabilities"),
    ],
)
async def test_invalid_discovery_arguments_name_the_field(
    registry: LocalAgentRegistry, query: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await registry.discover(DiscoveryQuery.build(**query))

    assert caught.value.errors[0]["field"] == field


async def test_registering_again_is_idempotent_and_keeps_the_heartbeat_history(
    registry: LocalAgentRegistry, clock: Clock
) -> None:
    first = await registry.register(agent("a", version="2.0.0"))
    await registry.heartbeat("a", HEALTHY)
    await registry.heartbeat("a", HEALTHY)
    await registry.flush()
    clock.advance(5)

    again = await registry.register(agent("a", version="2.1.0", capabilities=["validation"]))

    assert [a.agent_id for a in await registry.list_agents()] == ["a"]
    assert again.descriptor.version == "2.1.0"
    assert again.registered_at == first.registered_at
    assert again.heartbeat_count == 2
    assert await registry.discover(DiscoveryQuery.build(capabilities=["carbon_calculation"])) == []
    assert [
        a.agent_id
        for a in await registry.discover(DiscoveryQuery.build(capabilities=["validation"]))
    ] == ["a"]


async def test_a_heartbeat_for_an_unknown_agent_is_refused_and_creates_nothing(
    registry: LocalAgentRegistry,
) -> None:
    with pytest.raises(AgentNotFoundError) as caught:
        await registry.heartbeat("ghost", HEALTHY)

    assert caught.value.agent_id == "ghost"
    assert isinstance(caught.value, RegistryError)
    assert registry.pending_heartbeats == 0
    assert await registry.flush() == 0
    assert await registry.list_agents() == []


async def test_a_heartbeat_finds_an_agent_registered_by_another_registry_process(
    registry: LocalAgentRegistry, engine: AsyncEngine, clock: Clock
) -> None:
    async with LocalAgentRegistry(engine, policy=POLICY, clock=clock, background=False) as other:
        await other.register(agent("elsewhere"))

    await registry.heartbeat("elsewhere", HEALTHY)

    assert await registry.flush() == 1


@pytest.mark.parametrize(
    ("metrics", "field"),
    [
        ({"cpu_usage": 1.5}, "cpu_usage"),
        ({"cpu_usage": -0.1}, "cpu_usage"),
        ({"error_rate": 2}, "error_rate"),
        ({"response_time_ms": -1}, "response_time_ms"),
        ({"response_time_ms": "fast"}, "response_time_ms"),
        ({"cpu_usage": True}, "cpu_usage"),
        ({"error_rate": float("nan")}, "error_rate"),
    ],
)
async def test_invalid_heartbeat_metrics_name_the_field(
    registry: LocalAgentRegistry, metrics: dict[str, Any], field: str
) -> None:
    await registry.register(agent("a"))

    with pytest.raises(ValidationError) as caught:
        await registry.heartbeat("a", metrics)

    assert [e["field"] for e in caught.value.errors] == [field]
    assert registry.pending_heartbeats == 0


async def test_heartbeats_are_coalesced_into_one_row_update_per_flush(
    registry: LocalAgentRegistry, engine: AsyncEngine
) -> None:
    await registry.register(agent("a"))
    await registry.register(agent("b"))
    for i in range(50):
        await registry.heartbeat("a", {"cpu_usage": i / 100, "response_time_ms": 100 + i})
    await registry.heartbeat("b", HEALTHY)

    with recorded_statements(engine) as statements:
        written = await registry.flush()
    a = await registry.get_agent("a")

    assert written == 2
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("UPDATE")
    assert a.heartbeat_count == 50
    assert a.metrics is not None
    assert (a.metrics.cpu_usage, a.metrics.response_time_ms) == (0.49, 149)


async def test_heartbeats_are_written_at_once_when_many_agents_are_pending(
    engine: AsyncEngine, clock: Clock
) -> None:
    async with LocalAgentRegistry(
        engine, policy=POLICY, clock=clock, background=False, max_pending=3
    ) as registry:
        for agent_id in ("a", "b", "c"):
            await registry.register(agent(agent_id))
            await registry.heartbeat(agent_id, HEALTHY)

        assert registry.pending_heartbeats == 0
        assert [a.heartbeat_count for a in await registry.list_agents()] == [1, 1, 1]


async def test_closing_writes_the_pending_heartbeats(engine: AsyncEngine, clock: Clock) -> None:
    async with LocalAgentRegistry(engine, policy=POLICY, clock=clock, background=False) as first:
        await first.register(agent("a"))
        await first.heartbeat("a", HEALTHY)

    async with LocalAgentRegistry(engine, policy=POLICY, clock=clock, background=False) as second:
        assert (await second.get_agent("a")).heartbeat_count == 1
    with pytest.raises(RegistryError, match="closed"):
        await second.heartbeat("a", HEALTHY)


async def test_the_background_flusher_writes_heartbeats_without_being_asked(
    engine: AsyncEngine, clock: Clock
) -> None:
    async with LocalAgentRegistry(
        engine, policy=POLICY, clock=clock, flush_interval_s=0.01
    ) as registry:
        await registry.register(agent("a"))
        await registry.heartbeat("a", HEALTHY)
        store = AgentStore(engine)

        async def written() -> bool:
            row = await store.get("a")
            return row is not None and row.heartbeat_count == 1

        # Poll with a deadline: the flusher runs on its own schedule.
        deadline = asyncio.get_running_loop().time() + 10
        while not await written():
            assert asyncio.get_running_loop().time() < deadline, "no flush within 10 s"
            await asyncio.sleep(0.01)


async def test_deregister_removes_the_agent_and_its_pending_heartbeat(
    registry: LocalAgentRegistry,
) -> None:
    await registry.register(agent("a"))
    await registry.heartbeat("a", HEALTHY)

    assert await registry.deregister("a")
    assert not await registry.deregister("a")
    assert registry.pending_heartbeats == 0
    with pytest.raises(AgentNotFoundError):
        await registry.get_agent("a")


async def test_initialize_applies_the_migrations_when_asked(
    empty_database_url: str, clock: Clock
) -> None:
    async with LocalAgentRegistry(
        empty_database_url, policy=POLICY, clock=clock, background=False
    ) as registry:
        await registry.register(agent("a"))

        assert [a.agent_id for a in await registry.list_agents()] == ["a"]


async def test_using_the_registry_before_initialize_is_an_error(empty_database_url: str) -> None:
    registry = LocalAgentRegistry(empty_database_url, migrate=False, background=False)

    with pytest.raises(RegistryError, match="initialize"):
        await registry.heartbeat("a", HEALTHY)


async def test_a_started_registry_publishes_its_stored_agents_before_any_health_check(
    engine: AsyncEngine, clock: Clock
) -> None:
    async with LocalAgentRegistry(engine, policy=POLICY, clock=clock, background=False) as first:
        for n in range(3):
            await first.register(agent(f"stored-{n}"))
        await first.heartbeat("stored-0", {"cpu_usage": 0.9, "error_rate": 0.5})
    for status in AgentStatus:  # forget what the first registry published
        registry_agents_total.labels(status=status.value).set(0)
    registry_agent_health.clear()

    async with LocalAgentRegistry(engine, policy=POLICY, clock=clock, background=False) as again:
        counted = {
            status: REGISTRY.get_sample_value("registry_agents_total", {"status": status.value})
            for status in AgentStatus
        }
        stored = REGISTRY.get_sample_value("registry_agent_health", {"agent_id": "stored-0"})
        fresh = REGISTRY.get_sample_value("registry_agent_health", {"agent_id": "stored-1"})
        statuses = [await status_of(again, f"stored-{n}") for n in range(3)]

    assert counted == {status: float(statuses.count(status)) for status in AgentStatus}
    assert sum(counted.values()) == 3
    assert fresh == 1.0
    assert stored is not None and stored < 1.0  # the unhealthy metrics of its heartbeat


async def test_concurrent_registrations_share_transactions_and_each_returns_its_agent(
    registry: LocalAgentRegistry, engine: AsyncEngine
) -> None:
    descriptors = [agent(f"gathered-{index:03d}") for index in range(120)]

    with recorded_statements(engine) as statements:
        registered = await asyncio.gather(*(registry.register(d) for d in descriptors))

    assert [r.descriptor for r in registered] == descriptors
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO AGENTS ")]
    assert len(inserts) < len(descriptors) / 10  # one per batch, not one per call
    listed = {a.agent_id for a in await registry.list_agents()}
    assert {d.agent_id for d in descriptors} <= listed


async def test_a_registration_that_cannot_be_written_fails_alone(
    registry: LocalAgentRegistry,
) -> None:
    good, bad = agent("fine"), agent("unwritable", metadata={"when": object()})

    results = await asyncio.gather(
        registry.register(good), registry.register(bad), return_exceptions=True
    )

    assert isinstance(results[1], ValidationError)
    assert [e["field"] for e in results[1].errors] == ["metadata"]
    assert (await registry.get_agent("fine")).descriptor == good
    with pytest.raises(AgentNotFoundError):
        await registry.get_agent("unwritable")


async def test_register_many_checks_every_descriptor_first_and_names_the_bad_one(
    registry: LocalAgentRegistry,
) -> None:
    many = [agent(f"many-{index:04d}") for index in range(2_500)]

    registered = await registry.register_many(many)
    with pytest.raises(ValidationError) as raised:
        await registry.register_many([agent("late"), agent("odd", metadata={"x": {1, 2}})])

    assert [r.descriptor for r in registered] == many
    assert len(await registry.list_agents()) == 2_500
    assert [e["field"] for e in raised.value.errors] == ["descriptors[1].metadata"]
    with pytest.raises(AgentNotFoundError):
        await registry.get_agent("late")


async def test_a_pass_that_changes_many_statuses_logs_a_few_and_one_summary(
    registry: LocalAgentRegistry, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    await registry.register_many([agent(f"quiet-{index:02d}") for index in range(30)])
    clock.advance(20)  # every agent is late: DEGRADED

    with caplog.at_level(logging.INFO, logger="registry.health.status_book"):
        summary = await registry.check_health()

    lines = [r.getMessage() for r in caplog.records]
    assert len(summary.changes) == 30
    assert len(lines) == 11
    assert lines[-1].startswith("30 agents changed status at once (30 active -> degraded)")
