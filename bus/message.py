"""Messages: the value type of the bus and the router. Pure models, JSON on the wire."""

from __future__ import annotations

import time
import uuid
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = ["MAX_PAYLOAD_BYTES", "MESSAGE_NAMES", "Message", "MessageType", "Priority"]

MAX_PAYLOAD_BYTES = 1_000_000
"""Largest encoded message accepted (Kafka's default max.message.bytes is about 1 MB)."""

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-/]{0,199}$")]
"""1-200 characters: letters, digits and ``. _ : - /``, starting with a letter or digit."""
MESSAGE_NAMES: Final = frozenset(
    {
        "payload",
        "sender_id",
        "recipient_id",
        "message_type",
        "priority",
        "headers",
        "correlation_id",
        "metadata",
    }
)
"""The names a message-routing condition can read (:meth:`Message.routing_context`)."""

HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")]


class MessageType(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"
    EVENT = "event"
    COMMAND = "command"
    HEARTBEAT = "heartbeat"
    ERROR = "error"


class Priority(IntEnum):
    """Lower is more urgent: consumers drain CRITICAL first without starving LOW."""

    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3


def _new_id() -> str:
    return uuid.uuid4().hex


class Message(BaseModel):
    """One message between agents.

    ``ttl_ms`` (relative) or ``expires_at`` (epoch seconds) bound its life: an expired message
    is not delivered. ``correlation_id`` ties a response to its request, ``causation_id`` names
    the message that caused this one, ``reply_to`` is the topic a response goes to.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    sender_id: Id
    recipient_id: Id | None = None
    message_type: MessageType = MessageType.EVENT
    priority: Priority = Priority.NORMAL
    payload: dict[str, Any] = Field(default_factory=dict)
    message_id: Id = Field(default_factory=_new_id)
    correlation_id: Id | None = None
    causation_id: Id | None = None
    reply_to: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-]{1,249}$")] | None = None
    created_at: float = Field(default_factory=time.time, ge=0)
    ttl_ms: int | None = Field(default=None, gt=0, le=30 * 24 * 3600 * 1000)
    expires_at: float | None = Field(default=None, ge=0)
    headers: dict[HeaderName, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict, max_length=64
    )
    trace_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    span_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")] | None = None

    @model_validator(mode="after")
    def _expiry(self) -> Message:
        if self.ttl_ms is not None and self.expires_at is None:
            object.__setattr__(self, "expires_at", self.created_at + self.ttl_ms / 1000)
        return self

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at

    def routing_context(self) -> dict[str, Any]:
        """What a route condition reads: a value for each of :data:`MESSAGE_NAMES`."""
        return {
            "payload": self.payload,
            "sender_id": self.sender_id,
            "recipient_id": self.recipient_id,
            "message_type": self.message_type.value,
            "priority": int(self.priority),
            "headers": self.headers,
            "correlation_id": self.correlation_id,
            "metadata": {},
        }
