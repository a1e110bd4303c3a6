"""Table models. The schema itself is built by the Alembic migrations, never ``create_all``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["ActionLedgerEntry", "Base"]

# Deterministic constraint names, so migrations can drop and alter constraints by name on
# every backend (SQLite batch mode needs names too).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; ``Base.metadata`` is the migrations' target."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ActionLedgerEntry(Base):
    """One applied action: its effect must never be applied again for the same key."""

    __tablename__ = "action_ledger"
    __table_args__ = (Index("ix_action_ledger_agent_id_action", "agent_id", "action"),)

    idempotency_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(200))
    # none_as_null: a result of None is SQL NULL, not the JSON literal 'null'.
    result: Mapped[Any | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
