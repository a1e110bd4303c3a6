"""One error shape everywhere; a database outage is a 503 the client reports as retriable."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from orchestration.core.exceptions import RegistryError
from orchestration.testing.database import temporary_postgres_database
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor
from registry.remote_registry import RemoteAgentRegistry
from registry.routing.router import MessageRouter
from registry.service.app import create_app
from registry.service.errors import RETRY_AFTER_S
from registry.store.engine import create_engine
from registry.store.migrations import upgrade
from tests.registry.service.conftest import BASE_URL

SECRET_DETAIL = "password=hunter2 at internal-db:5432"


async def test_an_unexpected_error_is_a_generic_500_with_the_traceback_only_in_the_log(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError(SECRET_DETAIL)

    app.add_api_route("/explode", explode)

    response = await client.get("/explode")

    assert response.status_code == 500
    assert response.json() == {
        "error": "internal error in the registry service; it has been logged",
        "code": "internal",
        "problems": [],
    }
    assert "hunter2" not in response.text
    assert any(r.exc_info and SECRET_DETAIL in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no-such-endpoint", 404, "not_found"),
        ("PATCH", "/agents", 405, "method_not_allowed"),
    ],
)
async def test_unknown_endpoints_and_methods_answer_in_the_error_shape(
    client: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert set(response.json()) == {"error", "code", "problems"}


async def drop_database(server_url: str, url: str) -> None:
    """Take the registry's database away under it (as an outage would)."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            await connection.exec_driver_sql(f'DROP DATABASE "{name}"')
    finally:
        await admin.dispose()


@pytest_asyncio.fixture
async def outage_app(postgres_server_url: str) -> AsyncIterator[tuple[FastAPI, str]]:
    """A service whose Postgres database is dropped once it is up; yields (app, agent id)."""
    async with temporary_postgres_database(postgres_server_url) as url:
        await upgrade(url)
        engine = create_engine(url)
        registry = LocalAgentRegistry(engine, migrate=False, background=False)
        await registry.initialize()
        try:
            agent = AgentDescriptor(agent_id="agent-before-outage", agent_type="Calculator")
            await registry.register(agent)
            await drop_database(postgres_server_url, url)
            yield create_app(registry, MessageRouter(registry=registry), token=None), url
        finally:
            await registry.close()
            await engine.dispose()


async def test_an_unreachable_database_is_a_503_with_retry_after_and_no_internals(
    outage_app: tuple[FastAPI, str],
) -> None:
    app, url = outage_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        answers = [
            await client.get("/health"),
            await client.get("/agents"),
            await client.get("/agents/agent-before-outage"),
            await client.post("/agents", json={"agent_id": "agent-new", "agent_type": "X"}),
            await client.post("/discover", json={}),
        ]

    for response in answers:
        assert response.status_code == 503, response.request.url
        assert response.headers["retry-after"] == str(RETRY_AFTER_S)
        assert response.json()["code"] == "unavailable"
        assert "database is unavailable" in response.json()["error"]
        assert url.rsplit("/", 1)[1] not in response.text


async def test_the_client_reports_an_unreachable_database_as_a_retriable_registry_error(
    outage_app: tuple[FastAPI, str],
) -> None:
    app, _ = outage_app
    remote = RemoteAgentRegistry(BASE_URL, transport=httpx.ASGITransport(app=app))

    with pytest.raises(RegistryError) as at_start:
        await remote.initialize()
    with pytest.raises(RegistryError) as reading:
        await remote.get_agent("agent-before-outage")
    await remote.close()

    for raised in (at_start.value, reading.value):
        assert raised.retriable is True
        assert BASE_URL in str(raised)
        assert "503" in str(raised)


async def test_the_health_check_logs_the_outage_server_side(
    outage_app: tuple[FastAPI, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, url = outage_app
    caplog.set_level(logging.WARNING, logger="registry.service")
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        await client.get("/health")

    assert url.rsplit("/", 1)[1] in caplog.text  # the operator sees which database
