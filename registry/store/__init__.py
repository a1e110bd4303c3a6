"""The registry's database layer: engines, tables, migrations and the action ledger."""

from __future__ import annotations

from registry.store.engine import create_engine
from registry.store.ledger import ActionLedger, LedgerRecord, LedgerTransaction
from registry.store.migrations import current_revision, upgrade
from registry.store.tables import ActionLedgerEntry, Base

__all__ = [
    "ActionLedger",
    "ActionLedgerEntry",
    "Base",
    "LedgerRecord",
    "LedgerTransaction",
    "create_engine",
    "current_revision",
    "upgrade",
]
