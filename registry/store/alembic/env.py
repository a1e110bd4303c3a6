"""Alembic environment of the registry store.

There is no ``alembic.ini``: :mod:`registry.store.migrations` builds the config in code and
passes an open connection in ``config.attributes["connection"]`` (it runs Alembic inside
``AsyncConnection.run_sync``, so migrations work from a running event loop). Without one, this
file opens its own async engine from ``sqlalchemy.url``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection

from registry.store.engine import create_engine
from registry.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _record_applied(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    # The caller reads this list to report which revisions the upgrade applied.
    if step.is_upgrade and step.up_revision_id is not None:
        config.attributes.setdefault("applied_revisions", []).append(step.up_revision_id)


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        on_version_apply=_record_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure_and_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        _run_offline(url)
    elif connection is not None:
        _configure_and_run(connection)
    else:
        asyncio.run(_run_with_own_engine(url))


_main()
