"""Registry test fixtures: an empty database per test on each backend, and a controlled clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from orchestration.testing.database import temporary_postgres_database
from tests.registry.clock import Clock


@pytest.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def empty_database_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend, URL): a SQLite file URL, or the Postgres server to create a database on."""
    if request.param == "sqlite":
        return "sqlite", f"sqlite+aiosqlite:///{tmp_path}/empty.db"
    server: str = request.getfixturevalue("postgres_server_url")
    return "postgres", server


@pytest_asyncio.fixture
async def empty_database_url(empty_database_target: tuple[str, str]) -> AsyncIterator[str]:
    """URL of a database no migration has touched, private to one test."""
    backend, url = empty_database_target
    if backend == "sqlite":
        yield url
        return
    async with temporary_postgres_database(url) as database_url:
        yield database_url


@pytest.fixture
def clock() -> Clock:
    return Clock()
