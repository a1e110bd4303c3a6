from __future__ import annotations

import math

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import registry.routing
from orchestration.core.exceptions import ValidationError
from registry.routing import Candidate, LoadInfo, Priority, RouteRequest, RoutingStrategy
from tests.registry.routing.support import load_infos


def test_the_quick_reference_load_info_is_valid() -> None:
    load = LoadInfo(
        agent_id="agent-1",
        message_queue_size=25,
        processing_time_ms=200,
        error_rate=0.02,
        capacity=100,
    )
    assert load.utilisation == 0.25
    assert load.spare_capacity == 75
    assert load.load_score == pytest.approx(0.25 + 2 * 0.02 + 200 / 1200)
    assert LoadInfo.model_validate_json(load.model_dump_json()) == load


def test_the_load_score_follows_a_copy_with_new_figures() -> None:
    load = LoadInfo(
        agent_id="a", message_queue_size=0, processing_time_ms=0, error_rate=0, capacity=10
    )
    assert load.load_score == 0.0
    assert load.model_copy(update={"message_queue_size": 10}).load_score == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agent_id", ""),
        ("message_queue_size", -1),
        ("processing_time_ms", -0.1),
        ("processing_time_ms", math.inf),
        ("error_rate", 1.01),
        ("error_rate", -0.01),
        ("capacity", 0),
    ],
)
def test_load_info_rejects_impossible_figures(field: str, value: object) -> None:
    fields: dict[str, object] = {
        "agent_id": "agent-1",
        "message_queue_size": 1,
        "processing_time_ms": 1.0,
        "error_rate": 0.0,
        "capacity": 1,
    }
    fields[field] = value
    with pytest.raises(pydantic.ValidationError):
        LoadInfo.model_validate(fields)


@given(load=load_infos, field=st.sampled_from(["queue", "time", "errors"]))
def test_the_load_score_grows_with_queue_latency_and_errors(load: LoadInfo, field: str) -> None:
    if field == "queue":
        worse = load.model_copy(update={"message_queue_size": load.message_queue_size + 1})
    elif field == "time":
        worse = load.model_copy(update={"processing_time_ms": load.processing_time_ms + 100})
    else:
        worse = load.model_copy(update={"error_rate": min(1.0, load.error_rate + 0.1)})
        if worse.error_rate - load.error_rate < 1e-9:
            return  # already (within float resolution) at the maximum error rate
    assert worse.load_score > load.load_score


@pytest.mark.parametrize(
    "fields",
    [
        {"health": 1.5},
        {"health": -0.1},
        {"health": math.nan},
        {"weight": -1.0},
        {"weight": math.inf},
    ],
)
def test_a_candidate_rejects_impossible_health_or_weight(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError) as caught:
        Candidate(agent_id="a", health=fields.get("health", 1.0), weight=fields.get("weight", 1.0))
    assert caught.value.errors[0]["field"] == next(iter(fields))


@pytest.mark.parametrize("priority", [-1, 4])
def test_a_route_request_rejects_unknown_priorities(priority: int) -> None:
    with pytest.raises(ValidationError):
        RouteRequest(rule="r", key=None, priority=priority)


def test_a_route_request_defaults_to_normal_priority_without_a_key() -> None:
    request = RouteRequest(rule="r")
    assert request.key is None
    assert request.priority is Priority.NORMAL
    assert int(request.priority) == 2


def test_there_are_nine_strategies_with_lowercase_values() -> None:
    assert [s.value for s in RoutingStrategy] == [
        "round_robin",
        "least_loaded",
        "weighted",
        "content_based",
        "priority",
        "affinity",
        "broadcast",
        "failover",
        "consistent_hash",
    ]


def test_the_routing_exports_are_pinned() -> None:
    assert sorted(registry.routing.__all__) == [
        "AffinityStrategy",
        "BroadcastStrategy",
        "Candidate",
        "ConsistentHashStrategy",
        "ContentBasedStrategy",
        "FailoverStrategy",
        "LeastLoadedStrategy",
        "LoadInfo",
        "OutlierDetector",
        "Priority",
        "PriorityStrategy",
        "RendezvousHasher",
        "RoundRobinStrategy",
        "RouteRequest",
        "RoutingStrategy",
        "Strategy",
        "WeightedStrategy",
        "load_score",
        "make_strategy",
        "without_ejected",
    ]
    for name in registry.routing.__all__:
        assert getattr(registry.routing, name) is not None
