"""The agent store on both backends. The database is shared by the session: ids are unique."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestration.core.exceptions import ValidationError
from registry.models import AgentDescriptor, AgentStatus, ServiceType
from registry.records import HeartbeatMetrics, HeartbeatSample
from registry.store.agents import AgentStore, location_of
from registry.store.engine import create_engine
from registry.store.migrations import current_revision, upgrade
from registry.store.tables import AgentCapabilityEntry
from tests.registry.statements import recorded_statements

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest_asyncio.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(migrated_database_url)
    yield created
    await created.dispose()


@pytest.fixture
def store(engine: AsyncEngine) -> AgentStore:
    return AgentStore(engine)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def descriptor(agent_id: str, **fields: Any) -> AgentDescriptor:
    return AgentDescriptor(agent_id=agent_id, agent_type="CarbonCalculatorAgent", **fields)


async def test_the_agents_migration_applies_on_top_of_the_ledger_one(
    empty_database_url: str,
) -> None:
    assert await upgrade(empty_database_url, revision="0001") == ["0001"]
    assert await upgrade(empty_database_url, revision="0002") == ["0002"]
    assert await current_revision(empty_database_url) == "0002"


async def test_upsert_stores_the_descriptor_and_reads_it_back(
    store: AgentStore, prefix: str
) -> None:
    declared = descriptor(
        f"{prefix}-a",
        version="2.1.0",
        capabilities=["carbon_calculation", "scope3_emissions"],
        service_types=[ServiceType.COMPUTATION],
        endpoint="tcp://10.0.1.50:5000",
        tags=["production", "us-east-1"],
        metadata={"owner": "team-a", "limits": {"rps": 5}},
    )

    stored = await store.upsert(declared, T0)
    read = await store.get(f"{prefix}-a")

    assert read == stored
    assert read is not None
    assert read.descriptor == declared
    assert read.location == "us-east-1"
    assert read.registered_at == read.updated_at == read.status_changed_at == T0
    assert (read.last_heartbeat_at, read.metrics, read.heartbeat_count) == (None, None, 0)
    assert read.status is AgentStatus.ACTIVE


async def test_registering_again_replaces_the_descriptor_and_keeps_the_heartbeats(
    store: AgentStore, prefix: str
) -> None:
    agent_id = f"{prefix}-a"
    await store.upsert(descriptor(agent_id, capabilities=[f"{prefix}-old"]), T0)
    await store.apply_heartbeats(
        {agent_id: HeartbeatSample(HeartbeatMetrics(cpu_usage=0.4), T0 + timedelta(seconds=5), 3)}
    )

    again = await store.upsert(
        descriptor(agent_id, version="2.0.0", capabilities=[f"{prefix}-new"]),
        T0 + timedelta(seconds=9),
    )

    assert again.descriptor.version == "2.0.0"
    assert again.registered_at == T0
    assert again.updated_at == T0 + timedelta(seconds=9)
    assert again.last_heartbeat_at == T0 + timedelta(seconds=5)
    assert again.metrics == HeartbeatMetrics(cpu_usage=0.4)
    assert again.heartbeat_count == 3
    assert await store.candidates([f"{prefix}-old"]) == []
    assert [a.agent_id for a in await store.candidates([f"{prefix}-new"])] == [agent_id]


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"metadata": {"location": "eu-west-1"}, "tags": ["us-east-1"]}, "eu-west-1"),
        ({"tags": ["production", "us-central1", "eu-west-2"]}, "us-central1"),
        ({"tags": ["production", "blue"]}, None),
        ({"metadata": {"location": 7}, "tags": ["ap-southeast-2"]}, "ap-southeast-2"),
    ],
)
def test_the_location_is_the_declared_one_or_the_first_region_tag(
    fields: dict[str, Any], location: str | None
) -> None:
    assert location_of(descriptor("a", **fields)) == location


async def test_metadata_that_is_not_json_is_refused(store: AgentStore, prefix: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await store.upsert(descriptor(f"{prefix}-a", metadata={"at": T0}), T0)

    assert caught.value.errors[0]["field"] == "metadata"
    assert await store.get(f"{prefix}-a") is None


async def test_a_heartbeat_batch_is_one_statement_and_reports_unknown_agents(
    store: AgentStore, engine: AsyncEngine, prefix: str
) -> None:
    ids = [f"{prefix}-{i}" for i in range(3)]
    for agent_id in ids:
        await store.upsert(descriptor(agent_id), T0)
    later = T0 + timedelta(seconds=30)
    batch = {
        agent_id: HeartbeatSample(HeartbeatMetrics(error_rate=0.01 * i), later, i + 1)
        for i, agent_id in enumerate(ids)
    }
    batch[f"{prefix}-ghost"] = HeartbeatSample(HeartbeatMetrics(), later)

    with recorded_statements(engine) as statements:
        unknown = await store.apply_heartbeats(batch)
    written = [await store.get(agent_id) for agent_id in ids]

    assert unknown == [f"{prefix}-ghost"]
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE")]) == 1
    assert [(a.heartbeat_count, a.last_heartbeat_at) for a in written if a] == [
        (1, later),
        (2, later),
        (3, later),
    ]
    assert written[2] is not None and written[2].metrics == HeartbeatMetrics(error_rate=0.02)


async def test_a_batch_of_known_agents_needs_no_other_statement(
    store: AgentStore, engine: AsyncEngine, prefix: str
) -> None:
    await store.upsert(descriptor(f"{prefix}-a"), T0)

    with recorded_statements(engine) as statements:
        unknown = await store.apply_heartbeats(
            {f"{prefix}-a": HeartbeatSample(HeartbeatMetrics(cpu_usage=0.2), T0)}
        )

    assert unknown == []
    assert len(statements) == 1


async def test_candidates_need_every_capability_and_any_service_type_and_any_tag(
    store: AgentStore, prefix: str
) -> None:
    calc, scope3, report = f"{prefix}-calc", f"{prefix}-scope3", f"{prefix}-report"
    await store.upsert(
        descriptor(
            f"{prefix}-both",
            capabilities=[calc, scope3],
            service_types=[ServiceType.COMPUTATION],
            tags=["production"],
        ),
        T0,
    )
    await store.upsert(
        descriptor(
            f"{prefix}-calc-only",
            capabilities=[calc],
            service_types=[ServiceType.ANALYSIS, ServiceType.COMPUTATION],
            tags=["staging"],
        ),
        T0,
    )
    await store.upsert(
        descriptor(
            f"{prefix}-reporter", capabilities=[report], service_types=[ServiceType.REPORTING]
        ),
        T0,
    )

    async def ids(**query: Any) -> list[str]:
        return [a.agent_id for a in await store.candidates(**query)]

    assert await ids(capabilities=[calc]) == [f"{prefix}-both", f"{prefix}-calc-only"]
    assert await ids(capabilities=[calc, scope3]) == [f"{prefix}-both"]
    assert await ids(capabilities=[calc, report]) == []
    assert await ids(capabilities=[calc], service_types=[ServiceType.ANALYSIS]) == [
        f"{prefix}-calc-only"
    ]
    assert await ids(capabilities=[calc], tags=["staging", "production"]) == [
        f"{prefix}-both",
        f"{prefix}-calc-only",
    ]
    assert await ids(capabilities=[calc], tags=["canary"]) == []
    assert await ids(capabilities=[calc], limit=1) == [f"{prefix}-both"]


async def test_deleting_an_agent_removes_its_capabilities(
    store: AgentStore, engine: AsyncEngine, prefix: str
) -> None:
    await store.upsert(descriptor(f"{prefix}-a", capabilities=["x", "y"]), T0)

    assert await store.delete(f"{prefix}-a")
    assert not await store.delete(f"{prefix}-a")
    async with engine.connect() as connection:
        left = await connection.execute(
            select(AgentCapabilityEntry).where(AgentCapabilityEntry.agent_id == f"{prefix}-a")
        )
        assert left.all() == []
    assert f"{prefix}-a" not in await store.known_ids()


async def test_eviction_spares_agents_seen_since_the_cutoff(store: AgentStore, prefix: str) -> None:
    await store.upsert(descriptor(f"{prefix}-silent"), T0)
    await store.upsert(descriptor(f"{prefix}-beating"), T0)
    await store.upsert(descriptor(f"{prefix}-reregistered"), T0)
    await store.apply_heartbeats(
        {f"{prefix}-beating": HeartbeatSample(HeartbeatMetrics(), T0 + timedelta(seconds=200))}
    )
    await store.upsert(descriptor(f"{prefix}-reregistered"), T0 + timedelta(seconds=200))

    evicted = await store.evict(
        [f"{prefix}-silent", f"{prefix}-beating", f"{prefix}-reregistered"],
        silent_since=T0 + timedelta(seconds=100),
    )

    assert evicted == [f"{prefix}-silent"]
    assert await store.get(f"{prefix}-silent") is None
    assert await store.get(f"{prefix}-beating") is not None


async def test_statuses_are_written_one_at_a_time_or_in_a_batch(
    store: AgentStore, prefix: str
) -> None:
    ids = [f"{prefix}-{i}" for i in range(3)]
    for agent_id in ids:
        await store.upsert(descriptor(agent_id), T0)
    later = T0 + timedelta(seconds=60)

    assert await store.set_status(ids[0], AgentStatus.DEGRADED, later)
    assert not await store.set_status(f"{prefix}-ghost", AgentStatus.DEGRADED, later)
    await store.set_statuses({ids[1]: AgentStatus.INACTIVE, ids[2]: AgentStatus.INACTIVE}, later)

    degraded = [a.agent_id for a in await store.list(AgentStatus.DEGRADED) if a.agent_id in ids]
    inactive = [a for a in await store.list(AgentStatus.INACTIVE) if a.agent_id in ids]
    statuses = await store.known_statuses()
    assert degraded == [ids[0]]
    assert [a.agent_id for a in inactive] == ids[1:]
    assert all(a.status_changed_at == later for a in inactive)
    assert [statuses[agent_id] for agent_id in ids] == [
        AgentStatus.DEGRADED,
        AgentStatus.INACTIVE,
        AgentStatus.INACTIVE,
    ]
