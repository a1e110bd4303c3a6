"""The action ledger: apply an action's effect at most once per idempotency key.

Temporal runs activities at least once, so an agent action can be delivered again after it
already took effect. The agent records the key in the same database transaction as its effect;
a redelivery finds the key and skips the effect (returning the stored result instead).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestration.core.exceptions import LedgerConflictError, ValidationError
from orchestration.core.lifecycle import AsyncResource
from registry.store.engine import create_engine, translate_connect_errors
from registry.store.migrations import upgrade
from registry.store.tables import ActionLedgerEntry

__all__ = ["ActionLedger", "LedgerRecord", "LedgerTransaction"]

MAX_KEY_LENGTH = 512
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """An applied action as stored in the ledger."""

    key: str
    agent_id: str
    action: str
    result: Any
    created_at: datetime

    @classmethod
    def from_entry(cls, entry: ActionLedgerEntry) -> LedgerRecord:
        created_at = entry.created_at
        # SQLite keeps no offset; its CURRENT_TIMESTAMP is UTC.
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        return cls(entry.idempotency_key, entry.agent_id, entry.action, entry.result, created_at)


def _check_text(field: str, value: object, max_length: int) -> str:
    problem = None
    if not isinstance(value, str) or not value.strip():
        problem = "must be a non-empty string"
    elif len(value) > max_length:
        problem = f"must be at most {max_length} characters (got {len(value)})"
    elif "\x00" in value:
        problem = "must not contain NUL characters"
    if problem is not None:
        raise ValidationError.about(field, problem)
    return str(value)


def _normalise_result(value: Any) -> Any:
    # Store-and-read must give back what the first run returned, so convert to JSON now.
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        problem = f"must be JSON-serialisable ({exc})"
        raise ValidationError.about("result", problem) from None


class LedgerTransaction:
    """The open transaction of :meth:`ActionLedger.once`.

    Attributes:
        key: the idempotency key.
        done: True when the action already took effect; skip the effect then.
        result: the stored result when done, else the value given to :meth:`set_result`.
        session: the transaction's session, for the caller's own database effects so they
            commit together with the ledger row. Do not commit or roll it back yourself.
    """

    def __init__(self, session: AsyncSession, key: str, record: LedgerRecord | None) -> None:
        self._session = session
        self._key = key
        self._done = record is not None
        self._result: Any = record.result if record is not None else None

    @property
    def key(self) -> str:
        return self._key

    @property
    def done(self) -> bool:
        return self._done

    @property
    def result(self) -> Any:
        return self._result

    @property
    def session(self) -> AsyncSession:
        return self._session

    def set_result(self, value: Any) -> None:
        """Set the JSON result stored with the ledger row.

        Raises:
            ValidationError: the action is already done, or ``value`` is not JSON.
        """
        if self._done:
            problem = "the action is already done; its stored result cannot change"
            raise ValidationError(problem, errors=[{"field": "result", "problem": problem}])
        self._result = _normalise_result(value)


class ActionLedger(AsyncResource):
    """The idempotency ledger agents use to apply each action's effect at most once.

    Example:
        ```python
        async with ledger.once(key, agent_id="agent-collector", action="collect") as tx:
            if not tx.done:
                await tx.session.execute(insert(Readings).values(...))
                tx.set_result({"rows": 3})
        return tx.result
        ```
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._owns_engine = False

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> ActionLedger:
        """A ledger on its own engine for ``url``; :meth:`close` disposes of it.

        Args:
            url: the database (``ORCH_DATABASE_URL``).
            migrate: apply pending migrations first, as every component that owns tables
                does by default; pass ``settings.database.auto_migrate`` (false in
                production, where ``orchestration db upgrade`` runs them).
        """
        if migrate:
            await upgrade(url)
        ledger = cls(create_engine(url))
        ledger._owns_engine = True
        return ledger

    async def close(self) -> None:
        """Release the engine if this ledger created it (see :meth:`open`)."""
        if self._owns_engine:
            await self._engine.dispose()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        url = self._engine.url.render_as_string(hide_password=False)
        async with self._sessions() as session, session.begin():
            # Only the checkout is translated: statement errors keep their own types.
            async with translate_connect_errors(url):
                await session.connection()
            yield session

    @asynccontextmanager
    async def once(
        self, key: str, *, agent_id: str, action: str
    ) -> AsyncIterator[LedgerTransaction]:
        """Open one transaction in which the action's effect is applied at most once.

        When the block exits normally and the key was not done, the ledger row (with the
        result given to ``set_result``) is inserted and committed together with whatever the
        block did through ``tx.session``. When the block raises, everything rolls back.

        Args:
            key: the idempotency key (at most 512 characters), e.g. workflow and activity id.
            agent_id: the agent applying the action.
            action: the action's name.

        Raises:
            LedgerConflictError: a concurrent run committed the same key first (retriable).
            ValidationError: an argument is empty or too long.
            DatabaseUnavailableError: the database cannot be reached (retriable).
        """
        key = _check_text("key", key, MAX_KEY_LENGTH)
        agent_id = _check_text("agent_id", agent_id, MAX_NAME_LENGTH)
        action = _check_text("action", action, MAX_NAME_LENGTH)
        async with self._session() as session:
            entry = await session.get(ActionLedgerEntry, key)
            tx = LedgerTransaction(session, key, LedgerRecord.from_entry(entry) if entry else None)
            yield tx
            if tx.done:
                return
            # Flush the caller's own pending effects first, so their errors stay theirs and
            # only the ledger row's unique violation below means "someone else won".
            await session.flush()
            session.add(
                ActionLedgerEntry(
                    idempotency_key=key, agent_id=agent_id, action=action, result=tx.result
                )
            )
            try:
                await session.flush()
            except IntegrityError as exc:
                raise LedgerConflictError(key) from exc

    async def run_once(
        self, key: str, *, agent_id: str, action: str, fn: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Return the stored result for ``key``, or run ``fn``, store its result and return it.

        When a concurrent run stores the key first, its result is returned: every caller
        sees the one stored result.

        Raises:
            ValidationError: an argument is invalid or ``fn``'s result is not JSON.
            DatabaseUnavailableError: the database cannot be reached (retriable).
        """
        try:
            async with self.once(key, agent_id=agent_id, action=action) as tx:
                if not tx.done:
                    tx.set_result(await fn())
            return tx.result
        except LedgerConflictError:
            record = await self.get(key)
            if record is None:
                raise
            return record.result

    async def get(self, key: str) -> LedgerRecord | None:
        """The record of ``key``, or None when its action has not taken effect."""
        key = _check_text("key", key, MAX_KEY_LENGTH)
        async with self._session() as session:
            entry = await session.get(ActionLedgerEntry, key)
            return LedgerRecord.from_entry(entry) if entry is not None else None

    async def entries(
        self, *, agent_id: str | None = None, action: str | None = None
    ) -> list[LedgerRecord]:
        """Recorded actions, oldest first, optionally only those of one agent and/or action."""
        query = select(ActionLedgerEntry)
        if agent_id is not None:
            agent_id = _check_text("agent_id", agent_id, MAX_NAME_LENGTH)
            query = query.where(ActionLedgerEntry.agent_id == agent_id)
        if action is not None:
            action = _check_text("action", action, MAX_NAME_LENGTH)
            query = query.where(ActionLedgerEntry.action == action)
        query = query.order_by(ActionLedgerEntry.created_at, ActionLedgerEntry.idempotency_key)
        async with self._session() as session:
            rows = (await session.scalars(query)).all()
        return [LedgerRecord.from_entry(row) for row in rows]
