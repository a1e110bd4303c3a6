"""Agents over HTTP: registration, reads, heartbeats (single and batched) and discovery."""

from __future__ import annotations

import httpx

from registry.discovery import DiscoveryQuery
from registry.local_registry import LocalAgentRegistry
from registry.records import RegisteredAgent
from tests.registry.service.conftest import DescriptorFactory

HEALTHY = {"cpu_usage": 0.4, "error_rate": 0.0, "response_time_ms": 120}


async def ids_listed(client: httpx.AsyncClient) -> set[str]:
    response = await client.get("/agents")
    assert response.status_code == 200
    return {agent["descriptor"]["agent_id"] for agent in response.json()}


async def test_an_agent_is_registered_read_listed_and_deregistered(
    client: httpx.AsyncClient, descriptor: DescriptorFactory
) -> None:
    agent = descriptor(version="2.1.0", tags=["us-east-1"])
    body = agent.model_dump(mode="json")

    created = await client.post("/agents", json=body)
    again = await client.post("/agents", json=body)
    read = await client.get(f"/agents/{agent.agent_id}")
    listed = await ids_listed(client)
    removed = await client.delete(f"/agents/{agent.agent_id}")
    gone = await client.get(f"/agents/{agent.agent_id}")
    removed_again = await client.delete(f"/agents/{agent.agent_id}")

    assert created.status_code == 201
    assert created.headers["location"] == f"/agents/{agent.agent_id}"
    assert again.status_code == 201  # registering again is an upsert, answered the same way
    registered = RegisteredAgent.model_validate(read.json())
    assert registered.descriptor == agent
    assert registered.status == "active"
    assert agent.agent_id in listed
    assert removed.status_code == 204
    assert removed.content == b""
    assert gone.status_code == 404
    assert gone.json()["code"] == "agent_not_found"
    assert removed_again.status_code == 404
    assert agent.agent_id not in await ids_listed(client)


async def test_listing_by_status_filters_and_an_unknown_status_is_a_422(
    client: httpx.AsyncClient, descriptor: DescriptorFactory
) -> None:
    agent = descriptor()
    await client.post("/agents", json=agent.model_dump(mode="json"))

    active = await client.get("/agents", params={"status": "active"})
    inactive = await client.get("/agents", params={"status": "inactive"})
    invalid = await client.get("/agents", params={"status": "sleepy"})

    assert agent.agent_id in {a["descriptor"]["agent_id"] for a in active.json()}
    assert agent.agent_id not in {a["descriptor"]["agent_id"] for a in inactive.json()}
    assert invalid.status_code == 422
    assert [p["field"] for p in invalid.json()["problems"]] == ["query.status"]


async def test_an_invalid_descriptor_is_a_422_naming_each_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/agents",
        json={"agent_id": "-bad id", "version": "banana", "endpoint": "nowhere", "colour": "red"},
    )

    body = response.json()
    fields = {p["field"] for p in body["problems"]}
    assert response.status_code == 422
    assert body["code"] == "invalid_request"
    assert fields == {
        "body.agent_id",
        "body.agent_type",
        "body.version",
        "body.endpoint",
        "body.colour",
    }
    assert "body.agent_id" in body["error"]


async def test_a_body_that_is_not_json_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/agents", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["problems"][0]["field"].startswith("body")


async def test_a_heartbeat_is_buffered_not_written_per_request(
    client: httpx.AsyncClient, registry: LocalAgentRegistry, descriptor: DescriptorFactory
) -> None:
    agent = descriptor()
    await client.post("/agents", json=agent.model_dump(mode="json"))

    response = await client.post(f"/agents/{agent.agent_id}/heartbeat", json=HEALTHY)
    buffered = registry.pending_heartbeats
    seen = (await client.get(f"/agents/{agent.agent_id}")).json()
    written = await registry.flush()

    assert response.status_code == 202
    assert response.json() == {"agent_id": agent.agent_id, "status": "accepted"}
    assert buffered == 1
    assert seen["heartbeat_count"] == 1
    assert seen["metrics"] == HEALTHY
    assert written == 1


async def test_a_heartbeat_without_metrics_is_accepted(
    client: httpx.AsyncClient, descriptor: DescriptorFactory
) -> None:
    agent = descriptor()
    await client.post("/agents", json=agent.model_dump(mode="json"))

    response = await client.post(f"/agents/{agent.agent_id}/heartbeat")

    assert response.status_code == 202


async def test_a_heartbeat_of_an_unknown_agent_is_a_404_and_registers_nothing(
    client: httpx.AsyncClient, registry: LocalAgentRegistry, unique: str
) -> None:
    before = await ids_listed(client)

    response = await client.post(f"/agents/agent-ghost-{unique}/heartbeat", json=HEALTHY)

    assert response.status_code == 404
    assert response.json()["code"] == "agent_not_found"
    assert f"agent-ghost-{unique}" in response.json()["error"]
    assert registry.pending_heartbeats == 0
    assert await ids_listed(client) == before


async def test_invalid_heartbeat_metrics_are_a_422_naming_the_metric(
    client: httpx.AsyncClient, descriptor: DescriptorFactory
) -> None:
    agent = descriptor()
    await client.post("/agents", json=agent.model_dump(mode="json"))

    response = await client.post(
        f"/agents/{agent.agent_id}/heartbeat", json={"cpu_usage": 7, "error_rate": "high"}
    )

    assert response.status_code == 422
    assert {p["field"] for p in response.json()["problems"]} == {"cpu_usage", "error_rate"}


async def test_a_heartbeat_batch_accepts_known_agents_and_lists_the_others(
    client: httpx.AsyncClient,
    registry: LocalAgentRegistry,
    descriptor: DescriptorFactory,
    unique: str,
) -> None:
    first, second = descriptor("one"), descriptor("two")
    for agent in (first, second):
        await client.post("/agents", json=agent.model_dump(mode="json"))

    response = await client.post(
        "/heartbeats",
        json=[
            {"agent_id": first.agent_id, "metrics": HEALTHY},
            {"agent_id": f"agent-ghost-{unique}", "metrics": HEALTHY},
            {"agent_id": second.agent_id, "metrics": {"cpu_usage": -1}},
            {"agent_id": second.agent_id},
        ],
    )

    body = response.json()
    assert response.status_code == 202
    assert body["accepted"] == [first.agent_id, second.agent_id]
    assert body["unknown"] == [f"agent-ghost-{unique}"]
    assert [(r["agent_id"], r["problems"][0]["field"]) for r in body["rejected"]] == [
        (second.agent_id, "cpu_usage")
    ]
    assert registry.pending_heartbeats == 2


async def test_a_malformed_heartbeat_batch_is_a_422_naming_the_item(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/heartbeats", json=[{"agent": "x"}])

    assert response.status_code == 422
    assert {p["field"] for p in response.json()["problems"]} == {
        "body.0.agent_id",
        "body.0.agent",
    }


async def test_discovery_over_http_ranks_like_the_registry(
    client: httpx.AsyncClient,
    registry: LocalAgentRegistry,
    descriptor: DescriptorFactory,
    unique: str,
) -> None:
    for name, tags in (("east", ["us-east-1"]), ("west", ["us-west-2"]), ("eu", ["eu-west-1"])):
        await client.post("/agents", json=descriptor(name, tags=tags).model_dump(mode="json"))
    query = {
        "capabilities": [f"carbon-{unique}"],
        "service_types": ["computation"],
        "location_preference": "us-west-2",
        "max_results": 2,
    }

    response = await client.post("/discover", json=query)
    in_process = await registry.discover(DiscoveryQuery.build(**query))  # type: ignore[arg-type]

    assert response.status_code == 200
    found = [RegisteredAgent.model_validate(a) for a in response.json()]
    assert found == in_process
    assert found[0].agent_id == f"agent-west-{unique}"
    assert len(found) == 2


async def test_an_invalid_discovery_is_a_422_naming_the_argument(
    client: httpx.AsyncClient,
) -> None:
    bad_range = await client.post("/discover", json={"min_health_score": 2, "max_results": 0})
    bad_constraint = await client.post("/discover", json={"version_constraint": ">>2"})

    assert bad_range.status_code == 422
    assert {p["field"] for p in bad_range.json()["problems"]} == {
        "body.min_health_score",
        "body.max_results",
    }
    assert bad_constraint.status_code == 422
    assert [p["field"] for p in bad_constraint.json()["problems"]] == ["version_constraint"]


async def test_a_registration_batch_registers_every_agent_in_order(
    client: httpx.AsyncClient, descriptor: DescriptorFactory
) -> None:
    agents = [descriptor(f"batch{index}") for index in range(3)]
    again = agents[1].model_copy(update={"version": "2.0.0"})
    body = [a.model_dump(mode="json") for a in (*agents, again)]

    response = await client.post("/agents/batch", json=body)

    assert response.status_code == 201
    answered = [RegisteredAgent.model_validate(a) for a in response.json()]
    ids = [a.agent_id for a in (*agents, again)]
    assert [a.descriptor.agent_id for a in answered] == ids
    # An agent given twice ends with its last descriptor, as two registrations would.
    read = await client.get(f"/agents/{agents[1].agent_id}")
    assert read.json()["descriptor"]["version"] == "2.0.0"
    assert set(ids) <= await ids_listed(client)


async def test_an_invalid_registration_batch_is_a_422_naming_the_item_and_writes_nothing(
    client: httpx.AsyncClient, descriptor: DescriptorFactory
) -> None:
    good = descriptor("good")
    bad = {**descriptor("bad").model_dump(mode="json"), "version": "banana"}

    response = await client.post("/agents/batch", json=[good.model_dump(mode="json"), bad])
    too_many = await client.post("/agents/batch", json=[bad] * 1001)

    assert response.status_code == 422
    assert [p["field"] for p in response.json()["problems"]] == ["body.1.version"]
    assert good.agent_id not in await ids_listed(client)
    assert too_many.status_code == 422
    assert "1000" in too_many.json()["problems"][0]["problem"]
