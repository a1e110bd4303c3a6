"""The snapshot's bookkeeping, without a database: indexes, re-synchronisation against what
this process changed meanwhile, heartbeat totals; and the heartbeat metrics fast path."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestration.core.exceptions import ValidationError
from registry.heartbeats.parsing import parse_metrics
from registry.models import AgentDescriptor, AgentStatus, ServiceType
from registry.records import HeartbeatMetrics, HeartbeatSample
from registry.snapshot.agents import AgentSnapshot
from registry.store.agent_rows import StoredAgent, location_of
from registry.store.candidates import Reading
from registry.store.changes import AgentChange

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def row(agent_id: str, *, count: int = 0, at: datetime = T0, **fields: Any) -> StoredAgent:
    descriptor = AgentDescriptor(agent_id=agent_id, agent_type="T", **fields)
    return StoredAgent(
        descriptor=descriptor,
        location=location_of(descriptor),
        registered_at=at,
        updated_at=at,
        last_heartbeat_at=None,
        metrics=None,
        heartbeat_count=count,
        status=AgentStatus.ACTIVE,
        status_changed_at=at,
    )


def change(agent_id: str, *, count: int, at: datetime = T0) -> AgentChange:
    return AgentChange(
        agent_id=agent_id,
        updated_at=T0,
        last_heartbeat_at=at,
        reading=Reading(0.5, 0.0, 100.0),
        heartbeat_count=count,
        status=AgentStatus.ACTIVE,
        status_changed_at=T0,
    )


def test_lookups_intersect_capabilities_and_match_any_service_type_or_tag() -> None:
    snapshot = AgentSnapshot()
    snapshot.load(
        [
            row("a", capabilities=["x", "y"], service_types=[ServiceType.COMPUTATION]),
            row("b", capabilities=["x"], tags=["prod"]),
            row("c", capabilities=["y"], service_types=[ServiceType.ANALYSIS], tags=["dev"]),
        ]
    )

    def ids(**query: Any) -> list[str]:
        return sorted(snapshot.matching(**query))

    assert ids() == ["a", "b", "c"]
    assert ids(capabilities=["x", "y"]) == ["a"]
    assert ids(capabilities=["x", "unknown"]) == []
    assert ids(service_types=[ServiceType.COMPUTATION, ServiceType.ANALYSIS]) == ["a", "c"]
    assert ids(capabilities=["y"], tags=["prod", "dev"]) == ["c"]


def test_registering_again_replaces_the_agents_index_entries() -> None:
    snapshot = AgentSnapshot()
    snapshot.put(row("a", capabilities=["x"], tags=["prod"]))

    snapshot.put(row("a", capabilities=["y"]))

    assert list(snapshot.matching(capabilities=["x"])) == []
    assert list(snapshot.matching(tags=["prod"])) == []
    assert list(snapshot.matching(capabilities=["y"])) == ["a"]


def test_the_location_matches_the_location_and_every_tag_ignoring_case() -> None:
    snapshot = AgentSnapshot()
    snapshot.put(row("a", tags=["EU-West-1", "Prod"], metadata={"location": "Frankfurt"}))

    entry = snapshot.get("a")

    assert entry is not None
    assert entry.places == {"frankfurt", "eu-west-1", "prod"}


def test_a_resynchronisation_leaves_alone_agents_this_process_changed_while_it_read() -> None:
    snapshot = AgentSnapshot()
    snapshot.load([row("gone"), row("kept", count=3), row("new-here")])

    with snapshot.tracking():
        # What the database said when it was read, before this process's writes landed.
        snapshot.remove("gone")
        snapshot.record_heartbeats({"kept": HeartbeatSample(HeartbeatMetrics(), T0, count=2)})
        snapshot.put(row("registered-meanwhile"))
        outcome = snapshot.apply(
            [change("gone", count=1), change("kept", count=3)],
            {"gone": row("gone")},
            present={"gone", "kept", "new-here"},
        )

    kept = snapshot.get("kept")
    assert "gone" not in snapshot
    assert "registered-meanwhile" in snapshot
    assert kept is not None and kept.row.heartbeat_count == 5
    assert (outcome.added, outcome.removed, outcome.updated) == ((), (), 0)


def test_a_resynchronisation_adds_updates_and_removes_what_the_database_says() -> None:
    snapshot = AgentSnapshot()
    snapshot.load([row("a"), row("b"), row("c")])

    outcome = snapshot.apply(
        [change("a", count=4, at=T0 + timedelta(seconds=5)), change("d", count=0)],
        {"d": row("d")},
        present={"a", "b", "d"},
    )

    a = snapshot.get("a")
    assert (outcome.added, outcome.removed, outcome.updated) == (("d",), ("c",), 1)
    assert a is not None
    assert (a.row.heartbeat_count, a.last_seen) == (4, T0 + timedelta(seconds=5))
    assert a.row.metrics == HeartbeatMetrics(cpu_usage=0.5, error_rate=0.0, response_time_ms=100.0)


def test_the_heartbeat_total_follows_every_change() -> None:
    snapshot = AgentSnapshot()
    snapshot.load([row("a", count=2), row("b", count=5)])

    snapshot.record_heartbeats({"a": HeartbeatSample(HeartbeatMetrics(), T0, count=3)})
    snapshot.apply([change("b", count=9)], {})
    snapshot.remove("a")
    snapshot.put(row("c", count=1))

    assert snapshot.heartbeats == 9 + 1
    assert snapshot.heartbeats == sum(e.row.heartbeat_count for e in snapshot.entries.values())


@pytest.mark.parametrize(
    "metrics",
    [
        None,
        {},
        {"cpu_usage": 0.45, "error_rate": 0.01, "response_time_ms": 234},
        {"cpu_usage": 1, "error_rate": 0, "response_time_ms": 0.0},
        {"cpu_usage": None, "queue_depth": 7},
        {"cpu_usage": 1.5},
        {"cpu_usage": -0.1},
        {"error_rate": True},
        {"response_time_ms": "fast"},
        {"response_time_ms": math.inf},
        {"response_time_ms": 1e308},
        {"error_rate": math.nan},
        {"cpu_usage": 0.5, "error_rate": 2},
        "not a mapping",
    ],
)
def test_the_metrics_fast_path_agrees_with_the_validating_parser(metrics: Any) -> None:
    try:
        expected: HeartbeatMetrics | ValidationError = HeartbeatMetrics.from_mapping(metrics)
    except ValidationError as exc:
        expected = exc

    if isinstance(expected, ValidationError):
        with pytest.raises(ValidationError) as caught:
            parse_metrics(metrics)
        assert caught.value.errors == expected.errors
    else:
        parsed = parse_metrics(metrics)
        assert parsed == expected
        assert parsed.model_fields_set == expected.model_fields_set
