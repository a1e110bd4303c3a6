"""Route rules in the database: the source of truth every router instance reads."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from registry.routing.rules import RouteRule
from registry.store.engine import translate_connect_errors
from registry.store.tables import RouteRuleEntry, RouteRuleRevision

__all__ = ["SqlRuleStore"]


class SqlRuleStore:
    """Implements the router's ``RuleStore``: every save or delete takes a new revision."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._url = engine.url.render_as_string(hide_password=False)

    async def revision(self) -> int:
        async with translate_connect_errors(self._url), self._sessions() as session:
            found = await session.scalar(select(func.max(RouteRuleEntry.revision)))
            return int(found or 0)

    async def load(self) -> tuple[int, list[RouteRule]]:
        async with translate_connect_errors(self._url), self._sessions() as session:
            rows = (await session.scalars(select(RouteRuleEntry))).all()
        revision = max((row.revision for row in rows), default=0)
        rules = [RouteRule.model_validate(row.definition) for row in rows if not row.deleted]
        return revision, rules

    async def save(self, rule: RouteRule) -> int:
        return await self._write(rule.name, rule.model_dump(mode="json"), deleted=False)

    async def delete(self, name: str) -> int:
        return await self._write(name, None, deleted=True)

    async def _write(
        self, name: str, definition: dict[str, object] | None, *, deleted: bool
    ) -> int:
        now = datetime.now(UTC)
        for _ in range(3):  # a concurrent first insert of the same name: update instead
            async with translate_connect_errors(self._url), self._sessions.begin() as session:
                try:
                    return await self._write_in(session, name, definition, deleted, now)
                except IntegrityError:
                    await session.rollback()
        raise RuntimeError(f"could not store route rule {name!r} after 3 attempts")

    @staticmethod
    async def _write_in(
        session: AsyncSession,
        name: str,
        definition: dict[str, object] | None,
        deleted: bool,
        now: datetime,
    ) -> int:
        revision = int(
            (
                await session.execute(
                    insert(RouteRuleRevision)
                    .values(rule_name=name, changed_at=now)
                    .returning(RouteRuleRevision.revision)
                )
            ).scalar_one()
        )
        values: dict[str, object] = {"revision": revision, "deleted": deleted, "updated_at": now}
        if definition is not None:
            values["definition"] = definition
        result = await session.execute(
            update(RouteRuleEntry).where(RouteRuleEntry.name == name).values(**values)
        )
        if result.rowcount == 0 and definition is not None:  # type: ignore[attr-defined]
            session.add(RouteRuleEntry(name=name, **values))
            await session.flush()
        return revision
