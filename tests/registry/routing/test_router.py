"""MessageRouter: rules, conditions, healthy candidates, ejection, rules shared via the DB."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from bus.message import Message, MessageType, Priority
from orchestration.core.exceptions import RegistryError, RoutingError
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor
from registry.routing import LoadInfo, OutlierDetector, RoutingStrategy
from registry.routing.router import MessageRouter
from registry.routing.rules import RouteRule
from registry.store.engine import create_engine
from registry.store.rules import SqlRuleStore


def calculate(sender: str = "agent-001", **payload: object) -> Message:
    return Message(
        sender_id=sender,
        recipient_id="agent-002",
        message_type=MessageType.REQUEST,
        priority=Priority.HIGH,
        payload={"task": "calculate", **payload},
    )


def routed(strategy: str, status: str = "routed") -> float:
    value = REGISTRY.get_sample_value(
        "routing_messages_total", {"strategy": strategy, "status": status}
    )
    return value or 0.0


async def test_the_quick_reference_rule_routes_calculations_to_the_least_loaded() -> None:
    router = MessageRouter(None)
    router.add_route_rule(
        RouteRule(
            name="route_calculations",
            condition="payload.get('task') == 'calculate'",
            targets=["agent-1", "agent-2", "agent-3"],
            strategy=RoutingStrategy.LEAST_LOADED,
        )
    )
    for agent_id, queue in (("agent-1", 95), ("agent-2", 90), ("agent-3", 0)):
        router.update_agent_load(
            agent_id,
            LoadInfo(
                agent_id=agent_id,
                message_queue_size=queue,
                processing_time_ms=200,
                error_rate=0.02,
                capacity=100,
            ),
        )
    before = routed("least_loaded")
    picks = Counter([(await router.route(calculate()))[0] for _ in range(200)])
    assert set(picks) <= {"agent-1", "agent-2", "agent-3"}
    assert picks.most_common(1)[0][0] == "agent-3"  # least loaded wins every pair it is in
    assert picks["agent-1"] == 0  # the most loaded never wins a pair
    assert routed("least_loaded") - before == 200


async def test_a_message_no_rule_matches_is_refused_clearly() -> None:
    router = MessageRouter(None)
    router.add_route_rule(
        RouteRule(name="reports", condition="payload.get('task') == 'report'", targets=["r"])
    )
    before = routed("none", "no_rule")
    with pytest.raises(RoutingError, match="no route rule matches"):
        await router.route(calculate())
    assert routed("none", "no_rule") - before == 1


def test_an_unsafe_condition_is_refused_when_the_rule_is_added() -> None:
    router = MessageRouter(None)
    with pytest.raises(RoutingError, match="not allowed"):
        router.add_route_rule(
            RouteRule(name="evil", condition="payload.__class__.__bases__", targets=["a"])
        )
    assert router.rules == []


async def test_the_strategy_argument_overrides_the_rules_strategy() -> None:
    router = MessageRouter(None)
    router.add_route_rule(RouteRule(name="all", targets=["a", "b", "c"]))
    assert await router.route(calculate(), RoutingStrategy.BROADCAST) == ["a", "b", "c"]


async def test_rules_are_tried_in_priority_order_and_their_targets_pooled() -> None:
    router = MessageRouter(None)
    router.add_route_rule(
        RouteRule(name="fallback", targets=["c"], priority=200, strategy=RoutingStrategy.BROADCAST)
    )
    router.add_route_rule(
        RouteRule(
            name="calc",
            condition="payload['task'] == 'calculate'",
            targets=["a", "b"],
            priority=10,
            strategy=RoutingStrategy.BROADCAST,
        )
    )
    assert await router.route(calculate()) == ["a", "b", "c"]
    assert await router.route(calculate(), RoutingStrategy.FAILOVER) == ["a"]


async def test_affinity_keeps_a_payload_key_on_one_agent() -> None:
    router = MessageRouter(None)
    router.add_route_rule(
        RouteRule(
            name="sticky",
            targets=["a", "b", "c", "d"],
            strategy=RoutingStrategy.AFFINITY,
            affinity_key="payload.supplier",
        )
    )
    first = {s: await router.route(calculate(supplier=s)) for s in ("s1", "s2", "s3")}
    for _ in range(5):
        for supplier, targets in first.items():
            assert await router.route(calculate(supplier=supplier)) == targets


async def test_agents_that_fail_repeatedly_are_ejected_for_a_while() -> None:
    now = [1000.0]
    router = MessageRouter(
        None, clock=lambda: now[0], outliers=OutlierDetector(consecutive_failures=3)
    )
    router.add_route_rule(RouteRule(name="rr", targets=["good", "bad"]))
    router.record_result("good", success=True)
    for _ in range(3):
        router.record_result("bad", success=False)
    assert {(await router.route(calculate()))[0] for _ in range(10)} == {"good"}
    now[0] += 3600  # the ejection has long expired
    assert {(await router.route(calculate()))[0] for _ in range(10)} == {"good", "bad"}


async def test_only_registered_healthy_agents_are_candidates(sqlite_url: str, unique: str) -> None:
    registry = LocalAgentRegistry(sqlite_url, background=False)
    await registry.initialize()
    try:
        for agent_id in (f"up-{unique}", f"gone-{unique}"):
            await registry.register(AgentDescriptor(agent_id=agent_id, agent_type="T"))
        await registry.deregister(f"gone-{unique}")
        router = MessageRouter(None, registry=registry)
        await router.refresh()
        router.add_route_rule(
            RouteRule(name="r", targets=[f"up-{unique}", f"gone-{unique}", f"never-{unique}"])
        )
        assert {(await router.route(calculate()))[0] for _ in range(6)} == {f"up-{unique}"}
        await registry.deregister(f"up-{unique}")
        await router.refresh()
        with pytest.raises(RoutingError, match="registered and healthy"):
            await router.route(calculate())
    finally:
        await registry.close()


@pytest.fixture
async def rule_store(migrated_database_url: str) -> AsyncIterator[SqlRuleStore]:
    engine = create_engine(migrated_database_url)
    yield SqlRuleStore(engine)
    await engine.dispose()


async def test_every_router_sees_a_rule_change_within_about_a_second(
    rule_store: SqlRuleStore, unique: str
) -> None:
    writer = MessageRouter(None, rules=rule_store)
    reader = MessageRouter(None, rules=rule_store, refresh_interval_s=0.1)
    await writer.initialize()
    await reader.initialize()
    try:
        rule = RouteRule(name=f"shared-{unique}", targets=["a"], condition="priority <= 1")
        await writer.save_route_rule(rule)
        await _until(lambda: rule in reader.rules)
        assert await reader.route(calculate()) == ["a"]

        writer.remove_route_rule(rule.name)
        await writer.flush()
        await _until(lambda: all(r.name != rule.name for r in reader.rules))
    finally:
        await writer.close()
        await reader.close()


async def test_stored_rules_survive_a_restart_of_the_router(
    rule_store: SqlRuleStore, unique: str
) -> None:
    first = MessageRouter(None, rules=rule_store)
    await first.initialize()
    rule = RouteRule(
        name=f"kept-{unique}", targets=["x", "y"], strategy=RoutingStrategy.CONSISTENT_HASH
    )
    await first.save_route_rule(rule)
    await first.close()
    second = MessageRouter(None, rules=rule_store)
    await second.initialize()
    try:
        assert rule in second.rules
    finally:
        await second.close()


async def _until(predicate: object, deadline_s: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def test_a_rule_the_store_cannot_save_is_not_used(unique: str) -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    router = MessageRouter(None, rules=SqlRuleStore(engine))
    try:
        with pytest.raises(RegistryError) as info:
            await router.save_route_rule(RouteRule(name=f"lost-{unique}", targets=["a"]))
        assert info.value.retriable
        assert router.rules == []
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "condition",
    [
        "payload.get('task') == 'calculate'",
        "'calculate' == payload['task']",
        "payload.get('task') == 'calculate' and priority <= 1",  # evaluated, not indexed
    ],
)
async def test_indexed_and_evaluated_conditions_match_the_same_messages(condition: str) -> None:
    router = MessageRouter(None)
    router.add_route_rule(
        RouteRule(name="specific", condition=condition, targets=["a"], priority=1)
    )
    router.add_route_rule(
        RouteRule(
            name="other", condition="payload.get('task') == 'report'", targets=["b"], priority=2
        )
    )
    router.add_route_rule(RouteRule(name="any", targets=["c"], priority=3))
    strategy = RoutingStrategy.BROADCAST
    assert await router.route(calculate(), strategy) == ["a", "c"]
    report = calculate(task="report")
    assert await router.route(report, strategy) == ["b", "c"]
    odd = calculate(task=["not", "hashable"])
    assert await router.route(odd, strategy) == ["c"]


async def test_a_load_report_updates_cached_candidates_in_place() -> None:
    router = MessageRouter(None, rng=random.Random(1))
    router.add_route_rule(
        RouteRule(name="ll", targets=["a", "b"], strategy=RoutingStrategy.LEAST_LOADED)
    )

    def load(agent_id: str, queue: int) -> LoadInfo:
        return LoadInfo(
            agent_id=agent_id,
            message_queue_size=queue,
            processing_time_ms=10,
            error_rate=0.0,
            capacity=100,
        )

    router.update_agent_load("a", load("a", 0))
    router.update_agent_load("b", load("b", 99))
    assert {(await router.route(calculate()))[0] for _ in range(5)} == {"a"}
    router.update_agent_load("a", load("a", 99))  # after the candidates were cached
    router.update_agent_load("b", load("b", 0))
    assert {(await router.route(calculate()))[0] for _ in range(5)} == {"b"}
