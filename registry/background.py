"""The registry's background passes: an action every few seconds, surviving database blips."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import OperationalError

from orchestration.core.exceptions import DatabaseUnavailableError

__all__ = ["run_every"]

logger = logging.getLogger(__name__)


async def run_every(name: str, interval_s: float, action: Callable[[], Awaitable[object]]) -> None:
    """Await ``action`` every ``interval_s`` seconds until cancelled; a failed pass is logged
    (one line for a database outage, with its traceback otherwise) and tried again next time."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await action()
        except (DatabaseUnavailableError, OperationalError) as exc:
            # A database blip (down, or SQLite locked past its busy timeout): the pass
            # keeps its work (a flush puts its batch back) and tries again next time.
            reason = str(exc.orig if isinstance(exc, OperationalError) else exc)
            logger.warning(
                "registry %s failed (%s); retrying in %.1f s",
                name,
                reason.splitlines()[0],
                interval_s,
            )
        except Exception:
            logger.exception("registry %s failed; retrying in %.1f s", name, interval_s)
