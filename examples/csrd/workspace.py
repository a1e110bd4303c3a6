"""Where the CSRD example agents keep their effects: files, and an idempotency ledger.

Every effect is keyed by the call's idempotency key in the ledger (the registry database,
``ORCH_DATABASE_URL``), so a redelivered action returns its first result instead of applying
its effect again; the reliability tests read the ledger to prove it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from activities.ledger import ActionLedger
from orchestration import ActionContext, get_settings

__all__ = ["Workspace", "use_workspace", "workspace"]

log = logging.getLogger(__name__)


class Workspace:
    """Files under ``<state dir>/csrd`` plus the ledger."""

    def __init__(self, root: Path, ledger: ActionLedger) -> None:
        self.root = root
        self.ledger = ledger

    def path(self, kind: str, name: str) -> Path:
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.json"

    def write(self, kind: str, name: str, content: Any) -> Path:
        target = self.path(kind, name)
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(content, indent=2, sort_keys=True))
        partial.replace(target)  # atomic: readers never see half a file
        return target

    def read(self, kind: str, name: str) -> Any:
        return json.loads(self.path(kind, name).read_text())

    def remove(self, kind: str, name: str) -> bool:
        target = self.path(kind, name)
        existed = target.exists()
        target.unlink(missing_ok=True)
        return existed

    async def once(self, ctx: ActionContext, effect: Callable[[], Awaitable[Any]]) -> Any:
        """Apply ``effect`` at most once per idempotency key; return its (first) result.

        A call whose key is already in the ledger (a retry after the first reply was lost,
        e.g. when the agent died before answering) logs that it returned the stored result.
        """
        applied = False

        async def apply() -> Any:
            nonlocal applied
            applied = True
            return await effect()

        result = await self.ledger.run_once(
            ctx.idempotency_key, agent_id=ctx.agent_id, action=ctx.action, fn=apply
        )
        if not applied:
            log.info(
                "%s.%s: key %s already applied; returned its first result (attempt %d)",
                ctx.agent_id,
                ctx.action,
                ctx.idempotency_key,
                ctx.attempt,
            )
        return result


_workspace: Workspace | None = None
_lock = asyncio.Lock()


async def workspace() -> Workspace:
    """The process's workspace, opened on first use from the settings."""
    global _workspace
    async with _lock:
        if _workspace is None:
            settings = get_settings()
            ledger = await ActionLedger.open(
                settings.database_url, migrate=settings.database.auto_migrate
            )
            _workspace = Workspace(settings.state_dir.resolve() / "csrd", ledger)
        return _workspace


def use_workspace(chosen: Workspace | None) -> None:
    """Make ``workspace()`` return ``chosen`` (tests), or reopen from settings with None."""
    global _workspace
    _workspace = chosen
