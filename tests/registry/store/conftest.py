"""Fixtures for the store tests: an empty database per test, for migrations from scratch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from orchestration.testing.database import temporary_postgres_database


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
