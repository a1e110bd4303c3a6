from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from activities.ledger import ActionLedger
from orchestration.core.exceptions import (
    DatabaseUnavailableError,
    OrchestrationError,
    ValidationError,
)
from registry.store.engine import create_engine
from registry.store.migrations import current_revision, revisions, upgrade
from registry.store.tables import Base

UNREACHABLE_URL = "postgresql+asyncpg://orch:s3cret-pw@127.0.0.1:1/orch"


async def test_upgrade_applies_every_migration_to_an_empty_database(
    empty_database_url: str,
) -> None:
    assert await current_revision(empty_database_url) is None

    assert await upgrade(empty_database_url) == revisions()

    assert await current_revision(empty_database_url) == revisions()[-1]


async def test_upgrading_an_up_to_date_database_applies_nothing(empty_database_url: str) -> None:
    await upgrade(empty_database_url)

    assert await upgrade(empty_database_url) == []
    assert await current_revision(empty_database_url) == revisions()[-1]


async def test_concurrent_upgrades_apply_each_migration_once(empty_database_url: str) -> None:
    results = await asyncio.gather(upgrade(empty_database_url), upgrade(empty_database_url))

    assert sorted(results) == [[], revisions()]


def _schema_differences(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_the_migrated_schema_matches_the_table_models(migrated_database_url: str) -> None:
    engine = create_engine(migrated_database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_schema_differences)
    finally:
        await engine.dispose()

    assert differences == []


async def test_upgrade_to_an_unknown_revision_names_the_revision_field(
    migrated_database_url: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        await upgrade(migrated_database_url, revision="9999")

    assert caught.value.errors[0]["field"] == "revision"
    assert "9999" in str(caught.value)


@pytest.mark.parametrize("operation", ["upgrade", "current_revision", "ledger"])
async def test_an_unreachable_database_is_a_retriable_one_line_error_without_the_password(
    operation: str,
) -> None:
    with pytest.raises(OrchestrationError) as caught:
        if operation == "upgrade":
            await upgrade(UNREACHABLE_URL)
        elif operation == "current_revision":
            await current_revision(UNREACHABLE_URL)
        else:
            async with await ActionLedger.open(UNREACHABLE_URL) as ledger:
                await ledger.get("some-key")

    error = caught.value
    assert isinstance(error, DatabaseUnavailableError)
    assert error.retriable
    message = str(error)
    assert "s3cret-pw" not in message
    assert "127.0.0.1:1" in message
    assert "ORCH_DATABASE_URL" in message
    assert "\n" not in message


def test_the_migration_chain_is_the_known_one() -> None:
    # Pinned so a migration can't be dropped or reordered silently; append new ids here.
    assert revisions() == ["0001", "0002", "0003", "0004"]


async def test_connections_racing_to_switch_a_new_sqlite_file_to_wal_all_succeed(
    tmp_path: Path,
) -> None:
    # Two connections switching a fresh file to WAL at once: SQLite fails one at once with
    # "database is locked" (no busy wait); the engine retries it. Without the retry this
    # failed about one time in fifteen with three concurrent upgrades.
    for attempt in range(30):
        url = f"sqlite+aiosqlite:///{tmp_path / f'race-{attempt}.db'}"
        results = await asyncio.gather(upgrade(url), upgrade(url), upgrade(url))
        assert sorted(results) == [[], [], revisions()]
