"""An agent's row and the values it is made of; the location rule.

**Location rule.** An agent's ``location`` column is ``metadata["location"]`` when that is a
non-empty string, else its first tag that looks like a cloud region (``us-east-1``,
``eu-west-2``, ``us-central1``, ``europe-west4``: letters, one or more ``-word`` parts, then
a number), else NULL. Discovery's ``location_preference`` matches the location or any tag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from orchestration.core.exceptions import ValidationError
from registry.models import AgentDescriptor, AgentStatus, ServiceType
from registry.records import HeartbeatMetrics

__all__ = ["StoredAgent", "descriptor_values", "descriptors_values", "location_of", "utc"]

MAX_LOCATION_LENGTH = 200
_DESCRIPTOR_FIELDS = ("agent_id", "agent_type", "version", "endpoint", "tags", "capabilities",
                      "metadata", "max_concurrency", "rate_limit_per_s")  # fmt: skip
_REGION_TAG = re.compile(r"^[a-z]+(?:-[a-z]+)+-?\d+[a-z]?$")


def location_of(descriptor: AgentDescriptor) -> str | None:
    """The agent's location by the rule in the module docstring, or None.

    Raises:
        ValidationError: ``metadata["location"]`` is longer than 200 characters.
    """
    declared = descriptor.metadata.get("location")
    if isinstance(declared, str) and declared.strip():
        location = declared.strip()
        if len(location) > MAX_LOCATION_LENGTH:
            problem = f"must be at most {MAX_LOCATION_LENGTH} characters"
            raise ValidationError(
                f"metadata.location {problem}",
                errors=[{"field": "metadata.location", "problem": problem}],
            )
        return location
    return next((tag for tag in descriptor.tags if _REGION_TAG.match(tag.lower())), None)


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time (SQLite keeps no offset) is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _optional_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


@dataclass(frozen=True, slots=True)
class StoredAgent:
    """One agent's row.

    Attributes:
        descriptor: what the agent declared at its last (re-)registration.
        location: see :func:`location_of`.
        registered_at: its first registration.
        updated_at: its last (re-)registration.
        last_heartbeat_at: its last flushed heartbeat, None before the first.
        metrics: that heartbeat's metrics, None before the first.
        heartbeat_count: heartbeats flushed since it first registered.
        status: the status the health checker last wrote.
        status_changed_at: when that status was written.
    """

    descriptor: AgentDescriptor
    location: str | None
    registered_at: datetime
    updated_at: datetime
    last_heartbeat_at: datetime | None
    metrics: HeartbeatMetrics | None
    heartbeat_count: int
    status: AgentStatus
    status_changed_at: datetime

    @property
    def agent_id(self) -> str:
        return self.descriptor.agent_id

    @property
    def last_seen(self) -> datetime:
        """The last sign of life: the last heartbeat or (re-)registration, whichever is later."""
        if self.last_heartbeat_at is None:
            return self.updated_at
        return max(self.last_heartbeat_at, self.updated_at)

    @classmethod
    def from_row(cls, row: Row[Any], written: Mapping[str, Any] | None = None) -> StoredAgent:
        """The row as a ``StoredAgent``; ``written``, the ``descriptor_values`` this very row
        was just written from (an upsert's), spares validating the descriptor again."""
        values = row._mapping
        if written is not None:
            descriptor = AgentDescriptor.model_construct(
                **{name: written[name] for name in _DESCRIPTOR_FIELDS},
                service_types=[ServiceType(v) for v in written["service_types"]],
            )
        else:
            descriptor = AgentDescriptor.model_validate(
                {
                    "agent_id": values["agent_id"],
                    "agent_type": values["agent_type"],
                    "version": values["version"],
                    "endpoint": values["endpoint"],
                    "service_types": values["service_types"],
                    "tags": values["tags"],
                    "capabilities": values["capabilities"],
                    "metadata": values["metadata"],
                    "max_concurrency": values["max_concurrency"],
                    "rate_limit_per_s": values["rate_limit_per_s"],
                }
            )
        last_heartbeat_at = _optional_utc(values["last_heartbeat_at"])
        metrics = None
        if last_heartbeat_at is not None:
            metrics = HeartbeatMetrics(
                cpu_usage=values["cpu_usage"],
                error_rate=values["error_rate"],
                response_time_ms=values["response_time_ms"],
            )
        return cls(
            descriptor=descriptor,
            location=values["location"],
            registered_at=utc(values["registered_at"]),
            updated_at=utc(values["updated_at"]),
            last_heartbeat_at=last_heartbeat_at,
            metrics=metrics,
            heartbeat_count=values["heartbeat_count"],
            status=AgentStatus(values["status"]),
            status_changed_at=utc(values["status_changed_at"]),
        )


def descriptor_values(descriptor: AgentDescriptor) -> dict[str, Any]:
    try:
        metadata = json.loads(json.dumps(descriptor.metadata, allow_nan=False))
    except (TypeError, ValueError) as exc:
        problem = f"must be JSON-serialisable ({exc})"
        raise ValidationError.about("metadata", problem) from None
    return {
        "agent_id": descriptor.agent_id,
        "agent_type": descriptor.agent_type,
        "version": descriptor.version,
        "endpoint": descriptor.endpoint,
        "service_types": [service.value for service in descriptor.service_types],
        "tags": list(descriptor.tags),
        "capabilities": list(descriptor.capabilities),
        "metadata": metadata,
        "location": location_of(descriptor),
        "max_concurrency": descriptor.max_concurrency,
        "rate_limit_per_s": descriptor.rate_limit_per_s,
    }


def descriptors_values(descriptors: Sequence[AgentDescriptor]) -> list[dict[str, Any]]:
    """:func:`descriptor_values` of each descriptor, all checked before any is returned.

    Raises:
        ValidationError: a descriptor is invalid; the fields are named after its index
            (``descriptors[3].metadata``).
    """
    values = []
    for index, descriptor in enumerate(descriptors):
        try:
            values.append(descriptor_values(descriptor))
        except ValidationError as exc:
            where = f"descriptors[{index}]"
            raise ValidationError(
                f"{where}: {exc}",
                errors=[{**e, "field": f"{where}.{e['field']}"} for e in exc.errors],
            ) from None
    return values
