"""What an action handler gets besides its data: who it runs as, the call's key, its caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

__all__ = ["ActionContext"]


@dataclass(frozen=True)
class ActionContext:
    """What an action handler knows besides its data.

    Attributes:
        agent_id: the agent running the action.
        action: the action's name (its activity type).
        idempotency_key: the same on every retry of the same call; key your effects by it.
        caller: the id of the workflow that asked, when there is one.
        attempt: 1 on the first try, then 2, 3, ...
        context: extra inputs from the caller (e.g. the outputs of earlier saga steps).
        rejected: the rows of a swarm partition the handler rejected (``reject_rows``).
    """

    agent_id: str
    action: str
    idempotency_key: str
    caller: str | None
    attempt: int
    context: dict[str, Any] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject_rows(self, rows: int | Iterable[int], reason: str) -> None:
        """Swarm partitions: report rows of ``items`` (by their index there) that cannot be
        used, e.g. a negative spend. They land in the swarm's manifest and count in
        ``rows_rejected``; the partition still completes with what the handler returns.

        Raises:
            ValueError: an index that is not a non-negative integer, or an empty reason.
        """
        indexes = [rows] if isinstance(rows, int) else list(rows)
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in indexes):
            raise ValueError(f"reject_rows takes indexes into items, not {rows!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("reject_rows needs a reason")
        self.rejected.extend({"item": i, "reason": reason} for i in indexes)

    def heartbeat(self, *details: Any) -> None:
        """Tell Temporal this action is alive (and, optionally, how far it got); nothing
        for an action answering on the bus (its requester waits for the reply's timeout)."""
        if activity.in_activity():
            activity.heartbeat(*details)
