"""The one place that builds database engines, and the error raised when a database is down.

Only the async drivers this project ships are accepted: ``sqlite+aiosqlite://`` (the embedded
default) and ``postgresql+asyncpg://``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from orchestration.core.exceptions import ConfigurationError, DatabaseUnavailableError

__all__ = [
    "create_engine",
    "describe_url",
    "translate_connect_errors",
]

SETTING = "ORCH_DATABASE_URL"

# Seconds a SQLite writer waits for the lock instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Seconds before a Postgres connection attempt gives up (asyncpg's ``timeout``).
POSTGRES_CONNECT_TIMEOUT_S = 10.0


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "database URL is not a valid SQLAlchemy URL: use sqlite+aiosqlite:///<path> "
            "or postgresql+asyncpg://user@host:5432/db",
            setting=SETTING,
        ) from None


def describe_url(url: str) -> str:
    """The URL as it may appear in messages and logs: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def create_engine(url: str) -> AsyncEngine:
    """Build an async engine for ``url`` with this project's connection settings.

    SQLite gets WAL journaling (readers do not block the writer), a busy timeout and foreign
    keys on every connection, and the directory of its file is created if missing. Postgres
    gets a pre-pinged pool and a connect timeout.

    Args:
        url: ``sqlite+aiosqlite:///<path>`` or ``postgresql+asyncpg://user@host:port/db``.

    Raises:
        ConfigurationError: the URL is malformed or names an unsupported driver.
    """
    parsed = _parse(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if (backend, driver) == ("sqlite", "aiosqlite"):
        return _sqlite_engine(parsed)
    if (backend, driver) == ("postgresql", "asyncpg"):
        return _postgres_engine(parsed)
    raise ConfigurationError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite+aiosqlite:// "
        "or postgresql+asyncpg:// (the async drivers this project ships)",
        setting=SETTING,
    )


def _sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file:")
    if not in_memory:
        directory = Path(database).expanduser().parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the directory {str(directory)!r} of the SQLite database "
                f"({exc.strerror}): choose a writable path",
                setting=SETTING,
            ) from None
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Pragmas are per connection, so they must run on every new pooled connection.
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching a new file to WAL takes a lock another connection
            # may hold, and without a busy handler that fails at once.
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not in_memory:
                _switch_to_wal(cursor)
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the file.

    Two connections switching a new file to WAL at once each hold a shared lock and want an
    exclusive one: SQLite answers one of them "database is locked" at once, without waiting
    for the busy timeout (waiting could deadlock). The loser retries until the winner is done
    (the file is then in WAL mode and the pragma no longer needs the exclusive lock).
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)  # this runs in the driver's own thread, not the event loop
            delay = min(delay * 2, 0.2)


def _postgres_engine(url: URL) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        # A restarted server leaves dead connections in the pool: test each one before use.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "timeout": POSTGRES_CONNECT_TIMEOUT_S,
            "server_settings": {"application_name": "greenlang-orchestration"},
        },
    )


def _reason(exc: BaseException, url: str) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else type(cause).__name__
    password = _parse(url).password
    if password:
        text = text.replace(str(password), "***")
    return text


@asynccontextmanager
async def translate_connect_errors(url: str) -> AsyncIterator[None]:
    """Turn a failure to reach the database into a one-line :class:`DatabaseUnavailableError`.

    Wrap only the code that opens connections, so errors of the statements themselves keep
    their own type.
    """
    try:
        yield
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to the database at {describe_url(url)} ({_reason(exc, url)}): "
            f"start it, or point {SETTING} at a reachable database",
            url=describe_url(url),
        ) from exc
