"""What an action handler gets besides its data: who it runs as, the call's key, its caller."""

from __future__ import annotations

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
    """

    agent_id: str
    action: str
    idempotency_key: str
    caller: str | None
    attempt: int
    context: dict[str, Any] = field(default_factory=dict)

    def heartbeat(self, *details: Any) -> None:
        """Tell Temporal this action is alive (and, optionally, how far it got); nothing
        for an action answering on the bus (its requester waits for the reply's timeout)."""
        if activity.in_activity():
            activity.heartbeat(*details)
