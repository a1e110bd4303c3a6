"""Apply the Alembic migrations of the store from code (the CLI, the stack and tests).

Alembic runs synchronously inside ``AsyncConnection.run_sync``, so these coroutines work from
a running event loop; no ``alembic.ini`` is involved.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from orchestration.core.exceptions import ValidationError
from registry.store.engine import create_engine, translate_connect_errors

__all__ = ["SCRIPT_LOCATION", "alembic_config", "current_revision", "revisions", "upgrade"]

SCRIPT_LOCATION = Path(__file__).with_name("alembic")

# One fixed 64-bit key: every process migrating any database of this project queues on it.
_ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"greenlang-orchestration:migrations").digest()[:8], "big", signed=True
)


def alembic_config(url: str, *, connection: Connection | None = None) -> Config:
    """An Alembic config for the store's migrations, built without an ini file.

    Args:
        url: the database URL (used by ``env.py`` only when no connection is given).
        connection: an open connection for ``env.py`` to run the migrations on.
    """
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # The ini parser interpolates '%', which appears in URL-encoded passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@asynccontextmanager
async def _connection(url: str) -> AsyncIterator[AsyncConnection]:
    # A private engine without lingering pooled connections: migrations run once per process.
    engine = create_engine(url)
    try:
        async with translate_connect_errors(url):
            connection = await engine.connect()
        try:
            yield connection
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def _run_upgrade(connection: Connection, url: str, revision: str) -> list[str]:
    config = alembic_config(url, connection=connection)
    try:
        command.upgrade(config, revision)
    except CommandError as exc:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown revision"
        raise ValidationError(
            f"cannot upgrade the database to revision {revision!r}: {problem}",
            errors=[{"field": "revision", "problem": problem}],
        ) from None
    return list(config.attributes.get("applied_revisions", []))


def revisions() -> list[str]:
    """Every migration's revision id, oldest first; the last is the head."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


async def upgrade(url: str, *, revision: str = "head") -> list[str]:
    """Apply the migrations the database at ``url`` has not seen yet, up to ``revision``.

    The whole upgrade is one transaction holding a lock, so processes that start together
    apply each migration once: on Postgres an advisory lock, on SQLite the write lock.

    Args:
        url: ``sqlite+aiosqlite:///...`` or ``postgresql+asyncpg://...``.
        revision: the target revision; ``"head"`` is the newest.

    Returns:
        The revision ids applied, oldest first; empty when the database was up to date.

    Raises:
        ConfigurationError: the URL is malformed or unsupported.
        DatabaseUnavailableError: the database cannot be reached (retriable).
        ValidationError: ``revision`` is unknown or not an upgrade target.
    """
    if not revision or not revision.strip():
        raise ValidationError(
            "revision must be a non-empty revision id or 'head'",
            errors=[{"field": "revision", "problem": "empty"}],
        )
    async with _connection(url) as connection:
        if connection.dialect.name == "postgresql":
            # Transaction-scoped: released by the commit or rollback below, whatever happens.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
            )
        else:
            # Take SQLite's write lock now and run the DDL in this one transaction; the
            # driver would otherwise autocommit each DDL statement on its own.
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        applied = await connection.run_sync(_run_upgrade, url, revision)
        await connection.commit()
    return applied


def _read_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None before the first migration.

    Raises:
        ConfigurationError: the URL is malformed or unsupported.
        DatabaseUnavailableError: the database cannot be reached (retriable).
    """
    async with _connection(url) as connection:
        return await connection.run_sync(_read_revision)
