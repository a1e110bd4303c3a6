"""The registry service over a real database (SQLite and Postgres), driven in-process.

The service's tests share one migrated database per backend, private to this package, so
route rules other packages store cannot match these tests' messages. Each test uses ids
with its own ``unique`` suffix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestration.testing.database import temporary_postgres_database
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor, ServiceType
from registry.remote_registry import RemoteAgentRegistry
from registry.routing.router import MessageRouter
from registry.service.app import create_app
from registry.store.engine import create_engine
from registry.store.migrations import upgrade
from registry.store.rules import SqlRuleStore

BASE_URL = "http://registry.test"
TOKEN = "s3cret-token-for-tests-0123456789"

DescriptorFactory = Callable[..., AgentDescriptor]


@pytest.fixture(scope="package", params=["sqlite", "postgres"])
def service_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("service") / "registry.db"
        return "sqlite", f"sqlite+aiosqlite:///{path}"
    server: str = request.getfixturevalue("postgres_server_url")
    return "postgres", server


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def service_database_url(service_backend: tuple[str, str]) -> AsyncIterator[str]:
    """A migrated database for this package's tests, on each backend."""
    backend, target = service_backend
    if backend == "sqlite":
        await upgrade(target)
        yield target
        return
    async with temporary_postgres_database(target) as url:
        await upgrade(url)
        yield url


@pytest_asyncio.fixture
async def engine(service_database_url: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(service_database_url)
    yield created
    await created.dispose()


@pytest_asyncio.fixture
async def registry(engine: AsyncEngine) -> AsyncIterator[LocalAgentRegistry]:
    # No background tasks: heartbeats stay in the buffer until a test flushes them.
    async with LocalAgentRegistry(engine, migrate=False, background=False) as opened:
        yield opened


@pytest_asyncio.fixture
async def router(registry: LocalAgentRegistry, engine: AsyncEngine) -> AsyncIterator[MessageRouter]:
    # Not initialized (no background refresh): tests call refresh() when they need one.
    built = MessageRouter(registry=registry, rules=SqlRuleStore(engine))
    await built.refresh()
    yield built
    await built.close()


@pytest.fixture
def app(registry: LocalAgentRegistry, router: MessageRouter) -> FastAPI:
    return create_app(registry, router, token=None)


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        yield c


@pytest_asyncio.fixture
async def remote(app: FastAPI) -> AsyncIterator[RemoteAgentRegistry]:
    async with RemoteAgentRegistry(BASE_URL, transport=httpx.ASGITransport(app=app)) as opened:
        yield opened


@pytest.fixture
def descriptor(unique: str) -> DescriptorFactory:
    """Builds descriptors whose ids and capability belong to this test only."""

    def build(name: str = "calc", **fields: Any) -> AgentDescriptor:
        fields.setdefault("capabilities", [f"carbon-{unique}"])
        fields.setdefault("service_types", [ServiceType.COMPUTATION])
        return AgentDescriptor(
            agent_id=f"agent-{name}-{unique}", agent_type="CarbonCalculatorAgent", **fields
        )

    return build
