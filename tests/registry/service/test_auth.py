"""The bearer token: required everywhere but /health, compared safely, never echoed."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from starlette.routing import Route

from orchestration.core.exceptions import ConfigurationError, RegistryError
from registry.local_registry import LocalAgentRegistry
from registry.remote_registry import RemoteAgentRegistry
from registry.routing.router import MessageRouter
from registry.service.app import create_app
from tests.registry.service.conftest import BASE_URL, TOKEN, DescriptorFactory


@pytest.fixture
def secured_app(registry: LocalAgentRegistry, router: MessageRouter) -> FastAPI:
    return create_app(registry, router, token=TOKEN)


@pytest_asyncio.fixture
async def anonymous(secured_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=secured_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path with placeholders filled) of every route the application has."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        assert isinstance(route, Route), f"unexpected route type {type(route)}: {route}"
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        found.extend((method, path) for method in sorted(route.methods or ()) if method != "HEAD")
    return found


async def test_every_endpoint_but_health_refuses_a_request_without_the_token(
    secured_app: FastAPI, anonymous: httpx.AsyncClient
) -> None:
    checked = endpoints(secured_app)

    answers = {
        (method, path): await anonymous.request(method, path, json={}) for method, path in checked
    }
    wrong = {
        (method, path): await anonymous.request(
            method, path, json={}, headers={"Authorization": f"Bearer {TOKEN}x"}
        )
        for method, path in checked
    }

    assert ("GET", "/openapi.json") in checked
    assert ("POST", "/route") in checked
    assert len(checked) >= 17
    for endpoint, response in answers.items():
        expected = 200 if endpoint == ("GET", "/health") else 401
        assert response.status_code == expected, endpoint
    for endpoint, response in [*answers.items(), *wrong.items()]:
        if endpoint != ("GET", "/health"):
            assert response.status_code == 401, endpoint
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["code"] == "unauthorized"
        assert TOKEN not in response.text
        assert TOKEN not in str(response.headers)


async def test_the_right_token_opens_every_endpoint(
    secured_app: FastAPI, anonymous: httpx.AsyncClient
) -> None:
    headers = {"Authorization": f"bearer {TOKEN}"}  # the scheme is case-insensitive

    answers = {
        endpoint: await anonymous.request(*endpoint, json={}, headers=headers)
        for endpoint in endpoints(secured_app)
    }

    assert all(response.status_code != 401 for response in answers.values()), answers
    assert answers[("GET", "/openapi.json")].status_code == 200
    assert answers[("GET", "/agents")].status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        f"Token {TOKEN}",
        "Bearer",
        f"Bearer {TOKEN[:-1]}",
        f"{TOKEN}",
        "Bearer é".encode(),
    ],
)
async def test_other_credentials_are_refused(
    anonymous: httpx.AsyncClient, header: str | bytes
) -> None:
    raw = header if isinstance(header, bytes) else header.encode()
    response = await anonymous.get("/agents", headers=[(b"Authorization", raw)])

    assert response.status_code == 401
    assert TOKEN not in response.text


async def test_the_openapi_document_declares_the_bearer_scheme(
    anonymous: httpx.AsyncClient,
) -> None:
    document = (
        await anonymous.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    ).json()

    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in document["paths"]["/health"]["get"]
    assert document["paths"]["/agents"]["post"]["security"] == [{"HTTPBearer": []}]


async def test_the_client_sends_the_token_and_names_a_refusal_without_echoing_it(
    secured_app: FastAPI,
    descriptor: DescriptorFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = httpx.ASGITransport(app=secured_app)
    caplog.set_level(logging.DEBUG)

    async with RemoteAgentRegistry(BASE_URL, token=TOKEN, transport=transport) as good:
        registered = await good.register(descriptor())
    async with RemoteAgentRegistry(BASE_URL, token="wrong-token", transport=transport) as bad:
        with pytest.raises(RegistryError, match="refused the token") as refused:
            await bad.get_agent(registered.agent_id)
    async with RemoteAgentRegistry(BASE_URL, transport=transport) as none:
        with pytest.raises(RegistryError, match="requires a token") as missing:
            await none.list_agents()

    assert refused.value.retriable is False
    assert "wrong-token" not in str(refused.value)
    assert "ORCH_REGISTRY_TOKEN" in str(missing.value)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(good)


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_token_is_a_configuration_error(
    registry: LocalAgentRegistry, router: MessageRouter, token: str
) -> None:
    with pytest.raises(ConfigurationError, match="ORCH_REGISTRY_TOKEN"):
        create_app(registry, router, token=token)


async def test_without_a_token_the_service_is_open(client: httpx.AsyncClient) -> None:
    response = await client.get("/agents")

    assert response.status_code == 200
