"""Table models. The schema itself is built by the Alembic migrations, never ``create_all``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ActionLedgerEntry",
    "AgentCapabilityEntry",
    "AgentEntry",
    "Base",
    "RouteRuleEntry",
    "RouteRuleRevision",
]

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


class AgentEntry(Base):
    """A registered agent: its descriptor, its last heartbeat and its last written status.

    The status column is what the health checker last wrote (for listing and for logging
    transitions); the registry recomputes the status at read time from the heartbeat columns.
    """

    __tablename__ = "agents"
    __table_args__ = (
        Index("ix_agents_status", "status"),
        Index("ix_agents_last_heartbeat_at", "last_heartbeat_at"),
    )

    agent_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    agent_type: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str | None] = mapped_column(String(512), nullable=True)
    service_types: Mapped[list[str]] = mapped_column(JSON)
    tags: Mapped[list[str]] = mapped_column(JSON)
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    # "metadata" is reserved on declarative classes, so the attribute has another name.
    agent_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    max_concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_limit_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    cpu_usage: Mapped[float | None] = mapped_column(Float, nullable=True)
    error_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    response_time_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    heartbeat_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20))
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AgentCapabilityEntry(Base):
    """One capability of one agent: the index that capability lookups in discovery use."""

    __tablename__ = "agent_capabilities"
    __table_args__ = (Index("ix_agent_capabilities_capability", "capability"),)

    agent_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("agents.agent_id", ondelete="CASCADE"), primary_key=True
    )
    capability: Mapped[str] = mapped_column(String(128), primary_key=True)


class RouteRuleEntry(Base):
    """A route rule as JSON; ``revision`` grows with every change, deletes included."""

    __tablename__ = "route_rules"
    __table_args__ = (Index("ix_route_rules_revision", "revision"),)

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RouteRuleRevision(Base):
    """One row per rule change: its id is the revision (portable autoincrement)."""

    __tablename__ = "route_rule_revisions"

    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_name: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
