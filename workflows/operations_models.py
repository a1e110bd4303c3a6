"""What people decide for a running saga or pipeline: incidents that wait for an operator,
the decisions that resolve them, and the record of each (who, when, what, why).

A saga or pipeline *parks* instead of ending when a call failed where nothing can be
undone automatically (a saga step after its pivot, a failed compensation, a FAIL_FAST
pipeline stage, an approval nobody decided with ``on_timeout="intervene"``). It stays open,
in state ``NEEDS_INTERVENTION``, with one :class:`Incident` per parked call, until an
operator sends a :class:`Resolution` (a Temporal Update named ``resolve``).

Who sent it is the ``by`` the caller asserts, recorded beside the caller's Temporal client
identity; Temporal's own authorization (mTLS, namespace permissions) decides who may send
updates at all.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

__all__ = [
    "Incident",
    "IncidentKind",
    "InterventionRecord",
    "Note",
    "PersonName",
    "RequestedBy",
    "Resolution",
    "ResolveAction",
]

PersonName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
"""Who decided: a name or address the caller asserts (no control characters)."""
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
"""A comment or a reason, up to 2,000 characters."""
Identity = Annotated[str, StringConstraints(max_length=400)]
"""The Temporal client identity of the caller (``pid@host`` by default)."""
PartName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""A saga step's or a pipeline stage's name."""


class ResolveAction(StrEnum):
    RETRY = "retry"
    """Run the failed call again (same idempotency key), with ``data`` as its input when given."""
    SKIP = "skip"
    """Go on without the call; ``data``, when given, stands in for its output."""
    MARK_COMPENSATED = "mark_compensated"
    """A failed compensation was undone by hand: count it as compensated."""


class IncidentKind(StrEnum):
    STEP = "step"
    """A call failed for good where it cannot be compensated: a saga step after the pivot,
    or a pipeline stage under FAIL_FAST."""
    COMPENSATION = "compensation"
    """A compensation still failed after its retries."""
    APPROVAL = "approval"
    """Nobody approved or rejected within the approval's ``timeout_ms``."""


class Incident(BaseModel):
    """One parked call, waiting for an operator's :class:`Resolution`."""

    step: str
    """The saga step or pipeline stage."""
    kind: IncidentKind
    error: str
    agent_id: str | None = None
    action: str | None = None
    since: str
    """Workflow time (ISO 8601) it parked."""
    actions: list[ResolveAction]
    """What ``resolve`` may do with it."""


class RequestedBy(BaseModel):
    """Who asks: the name they assert and their Temporal client identity."""

    model_config = ConfigDict(extra="forbid")

    identity: Identity | None = None


class Resolution(RequestedBy):
    """The argument of the ``resolve`` update."""

    step: PartName
    action: ResolveAction
    by: PersonName
    reason: Annotated[Note, StringConstraints(min_length=1)]
    data: Any = None
    """``retry``: the call's input instead of the original; ``skip``: its output."""


class InterventionRecord(BaseModel):
    """An operator's decision on an incident: in the status query and the history."""

    step: str
    kind: IncidentKind
    error: str
    """What had failed."""
    action: ResolveAction
    by: str
    reason: str
    identity: str | None = None
    at: str
    data: Any = None
    """The ``data`` the operator gave, if any."""

    @classmethod
    def of(cls, incident: Incident, resolution: Resolution, at: str) -> InterventionRecord:
        """The record of ``resolution`` of ``incident``, decided at ``at``."""
        return cls(
            step=resolution.step,
            kind=incident.kind,
            error=incident.error,
            action=resolution.action,
            by=resolution.by,
            reason=resolution.reason,
            identity=resolution.identity,
            at=at,
            data=resolution.data,
        )
