"""Route rules, agent loads and routing decisions over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from registry.routing import LoadInfo
from registry.routing.router import MessageRouter
from registry.routing.rules import RouteRule
from registry.store.rules import SqlRuleStore
from tests.registry.service.conftest import DescriptorFactory


def rule_body(name: str, **fields: Any) -> dict[str, Any]:
    return RouteRule(name=name, **fields).model_dump(mode="json")


def message(sender: str, **fields: Any) -> dict[str, Any]:
    return {"sender_id": sender, "message_type": "request", **fields}


async def stored_rules(engine: AsyncEngine) -> dict[str, RouteRule]:
    """The rules another router instance reads from the database."""
    other = MessageRouter(rules=SqlRuleStore(engine))
    await other.refresh()
    return {rule.name: rule for rule in other.rules}


async def test_route_rules_are_created_replaced_listed_stored_and_deleted(
    client: httpx.AsyncClient, engine: AsyncEngine, unique: str
) -> None:
    name = f"rule-{unique}"
    first = rule_body(name, condition=f"sender_id == 'sender-{unique}'", targets=["agent-a"])
    second = {**first, "targets": ["agent-b"], "priority": 5}

    created = await client.put(f"/route-rules/{name}", json=first)
    replaced = await client.put(f"/route-rules/{name}", json=second)
    listed = await client.get("/route-rules")
    stored = await stored_rules(engine)
    deleted = await client.delete(f"/route-rules/{name}")
    deleted_again = await client.delete(f"/route-rules/{name}")

    assert created.status_code == 200
    assert created.json() == first
    assert replaced.json() == second
    assert [r for r in listed.json() if r["name"] == name] == [second]
    assert stored[name] == RouteRule.model_validate(second)
    assert deleted.status_code == 204
    assert deleted_again.status_code == 404
    assert deleted_again.json()["code"] == "not_found"
    assert name not in {r["name"] for r in (await client.get("/route-rules")).json()}
    assert name not in await stored_rules(engine)


async def test_an_unsafe_condition_is_a_422_with_the_reason_and_nothing_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, unique: str
) -> None:
    name = f"rule-{unique}"
    body = rule_body(name, targets=["agent-a"]) | {"condition": "__import__('os').system('id')"}

    response = await client.put(f"/route-rules/{name}", json=body)

    problems = response.json()["problems"]
    assert response.status_code == 422
    assert [p["field"] for p in problems] == ["body.condition"]
    assert "refused" in problems[0]["problem"]
    assert name not in {r["name"] for r in (await client.get("/route-rules")).json()}
    assert name not in await stored_rules(engine)


async def test_a_rule_whose_name_differs_from_the_path_is_a_422(
    client: httpx.AsyncClient, unique: str
) -> None:
    response = await client.put(
        f"/route-rules/rule-{unique}", json=rule_body(f"other-{unique}", targets=["agent-a"])
    )

    assert response.status_code == 422
    assert [p["field"] for p in response.json()["problems"]] == ["body.name"]


async def test_a_message_is_routed_to_a_healthy_target_of_the_matching_rule(
    client: httpx.AsyncClient,
    router: MessageRouter,
    descriptor: DescriptorFactory,
    unique: str,
) -> None:
    healthy = descriptor("healthy")
    await client.post("/agents", json=healthy.model_dump(mode="json"))
    name = f"rule-{unique}"
    await client.put(
        f"/route-rules/{name}",
        json=rule_body(
            name,
            condition=f"sender_id == 'sender-{unique}' and payload['kind'] == 'scope3'",
            targets=[f"agent-never-registered-{unique}", healthy.agent_id],
        ),
    )
    await router.refresh()  # what the service's background refresh does every second

    routed = await client.post(
        "/route", json={"message": message(f"sender-{unique}", payload={"kind": "scope3"})}
    )
    broadcast = await client.post(
        "/route",
        json={
            "message": message(f"sender-{unique}", payload={"kind": "scope3"}),
            "strategy": "broadcast",
        },
    )
    unmatched = await client.post(
        "/route", json={"message": message(f"sender-{unique}", payload={"kind": "scope1"})}
    )
    await client.delete(f"/route-rules/{name}")

    assert routed.status_code == 200
    assert routed.json() == {"targets": [healthy.agent_id]}
    assert broadcast.json() == {"targets": [healthy.agent_id]}
    assert unmatched.status_code == 409
    assert unmatched.json()["code"] == "no_route"
    assert "no route rule matches" in unmatched.json()["error"]


async def test_a_rule_without_a_healthy_target_is_a_409_naming_the_rule(
    client: httpx.AsyncClient, router: MessageRouter, unique: str
) -> None:
    name = f"rule-{unique}"
    await client.put(
        f"/route-rules/{name}",
        json=rule_body(
            name, condition=f"sender_id == 'sender-{unique}'", targets=[f"agent-gone-{unique}"]
        ),
    )
    await router.refresh()

    response = await client.post("/route", json={"message": message(f"sender-{unique}")})
    await client.delete(f"/route-rules/{name}")

    assert response.status_code == 409
    assert name in response.json()["error"]


async def test_an_invalid_route_request_is_a_422_naming_the_fields(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/route", json={"message": {"sender_id": ""}, "strategy": "telepathy"}
    )

    assert response.status_code == 422
    assert {p["field"] for p in response.json()["problems"]} == {
        "body.message.sender_id",
        "body.strategy",
    }


async def test_least_loaded_routing_follows_the_loads_reported_over_http(
    client: httpx.AsyncClient,
    router: MessageRouter,
    descriptor: DescriptorFactory,
    unique: str,
) -> None:
    busy, idle = descriptor("busy"), descriptor("idle")
    for agent in (busy, idle):
        await client.post("/agents", json=agent.model_dump(mode="json"))
    name = f"rule-{unique}"
    await client.put(
        f"/route-rules/{name}",
        json=rule_body(
            name,
            condition=f"sender_id == 'sender-{unique}'",
            targets=[busy.agent_id, idle.agent_id],
            strategy="least_loaded",
        ),
    )
    await router.refresh()
    loads = {busy.agent_id: 95, idle.agent_id: 1}

    answers = [
        await client.put(
            f"/agents/{agent_id}/load",
            json=LoadInfo(
                agent_id=agent_id,
                message_queue_size=queued,
                processing_time_ms=100,
                error_rate=0,
                capacity=100,
            ).model_dump(mode="json"),
        )
        for agent_id, queued in loads.items()
    ]
    routed = await client.post("/route", json={"message": message(f"sender-{unique}")})
    await client.delete(f"/route-rules/{name}")

    assert [a.status_code for a in answers] == [204, 204]
    assert routed.json() == {"targets": [idle.agent_id]}


async def test_a_load_reported_for_another_agent_is_a_422(
    client: httpx.AsyncClient, unique: str
) -> None:
    load = LoadInfo(
        agent_id=f"agent-b-{unique}",
        message_queue_size=1,
        processing_time_ms=1,
        error_rate=0,
        capacity=10,
    )

    response = await client.put(f"/agents/agent-a-{unique}/load", json=load.model_dump())

    assert response.status_code == 422
    assert [p["field"] for p in response.json()["problems"]] == ["body.agent_id"]
