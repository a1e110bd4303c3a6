"""The agent registry: one row per agent, and its capabilities for indexed lookups.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("agent_type", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=512), nullable=True),
        sa.Column("service_types", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cpu_usage", sa.Float(), nullable=True),
        sa.Column("error_rate", sa.Float(), nullable=True),
        sa.Column("response_time_ms", sa.Float(), nullable=True),
        sa.Column("heartbeat_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agents")),
    )
    op.create_index(op.f("ix_agents_status"), "agents", ["status"], unique=False)
    op.create_index(
        op.f("ix_agents_last_heartbeat_at"), "agents", ["last_heartbeat_at"], unique=False
    )
    op.create_table(
        "agent_capabilities",
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("capability", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.agent_id"],
            name=op.f("fk_agent_capabilities_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "capability", name=op.f("pk_agent_capabilities")),
    )
    op.create_index(
        op.f("ix_agent_capabilities_capability"),
        "agent_capabilities",
        ["capability"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_capabilities_capability"), table_name="agent_capabilities")
    op.drop_table("agent_capabilities")
    op.drop_index(op.f("ix_agents_last_heartbeat_at"), table_name="agents")
    op.drop_index(op.f("ix_agents_status"), table_name="agents")
    op.drop_table("agents")
