"""The action ledger: one row per idempotency key whose effect was applied.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "action_ledger",
        sa.Column("idempotency_key", sa.String(length=512), nullable=False),
        sa.Column("agent_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_action_ledger")),
    )
    op.create_index(
        op.f("ix_action_ledger_agent_id_action"),
        "action_ledger",
        ["agent_id", "action"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_action_ledger_agent_id_action"), table_name="action_ledger")
    op.drop_table("action_ledger")
