from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from orchestration.core.exceptions import ConfigurationError
from registry.store.engine import create_engine


@pytest.mark.parametrize(
    "url",
    ["mysql+aiomysql://root@localhost/db", "postgresql+psycopg2://u@h/db", "sqlite:///x.db"],
)
def test_unsupported_url_schemes_name_the_setting_to_change(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_engine(url)
    assert caught.value.setting == "ORCH_DATABASE_URL"
    assert "\n" not in str(caught.value)
    assert "sqlite+aiosqlite://" in str(caught.value)


def test_a_malformed_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_engine("not a url")
    assert caught.value.setting == "ORCH_DATABASE_URL"


async def test_sqlite_engine_creates_the_directory_and_sets_wal_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nested" / "state" / "registry.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            busy_timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
    finally:
        await engine.dispose()
    assert path.exists()
    assert (journal, foreign_keys) == ("wal", 1)
    assert busy_timeout is not None and busy_timeout > 0


async def test_postgres_engine_connects_with_the_pool_settings(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
        assert engine.pool.size() == 10  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
