"""Database fixtures: a fresh Postgres database per test session, and a SQLite file.

``database_url`` and ``migrated_database_url`` are parametrized over both backends, so a
store test written once runs on SQLite and on Postgres. Postgres tests skip (with a reason)
when the server is unreachable; point ``ORCH_TEST_POSTGRES_URL`` at another server to use it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orchestration.core.exceptions import ConfigurationError, OrchestrationError
from registry.store.engine import create_engine, describe_url, translate_connect_errors
from registry.store.migrations import upgrade

# Only fixtures: the pytest plugin star-imports this module.
__all__ = [
    "database_url",
    "migrated_database_url",
    "postgres_server_url",
    "postgres_url",
    "sqlite_url",
]

POSTGRES_URL_ENV = "ORCH_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
# An unreachable server usually refuses at once; this bounds a silently dropped connection.
_REACHABLE_TIMEOUT_S = 5.0


@asynccontextmanager
async def temporary_postgres_database(
    server_url: str, *, prefix: str = "orch_test"
) -> AsyncIterator[str]:
    """Create an empty database ``<prefix>_<hex>`` on the server, yield its URL, drop it.

    Args:
        server_url: a ``postgresql+asyncpg://`` URL of any database on the server.
        prefix: the start of the database's name (benchmarks use ``orch_bench``).
    """
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    admin = create_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                # Engines a test forgot to dispose would otherwise make DROP fail.
                await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.dispose()


async def _check_reachable(url: str) -> None:
    engine = create_engine(url)
    try:
        async with (
            translate_connect_errors(url),
            asyncio.timeout(_REACHABLE_TIMEOUT_S),
            engine.connect() as connection,
        ):
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_server_url() -> str:
    """URL of a reachable Postgres server (``ORCH_TEST_POSTGRES_URL`` or the local one)."""
    url = os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL
    try:
        await _check_reachable(url)
    except ConfigurationError as exc:
        pytest.fail(f"{POSTGRES_URL_ENV}: {exc}", pytrace=False)
    except (OrchestrationError, TimeoutError) as exc:
        pytest.skip(
            f"Postgres at {describe_url(url)} is unreachable ({type(exc).__name__}); "
            f"start it or set {POSTGRES_URL_ENV}"
        )
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_url(postgres_server_url: str) -> AsyncIterator[str]:
    """URL of a fresh, empty Postgres database, dropped at the end of the session."""
    async with temporary_postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a SQLite file (not created yet) in the session's temporary directory."""
    path: Path = tmp_path_factory.mktemp("sqlite") / "orchestration.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session", params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """``sqlite_url`` or ``postgres_url``: tests using it run once on each backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def migrated_database_url(database_url: str) -> str:
    """``database_url`` with every migration applied (once per session and backend)."""
    await upgrade(database_url)
    return database_url
