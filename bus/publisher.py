"""Publishing as other components see it: the ``Publisher`` protocol and its ``Delivery``.

Components that only publish (``SagaOrchestrator``'s saga events, ``AgentRegistry``,
``SwarmOrchestrator``) take any ``Publisher``; ``MessageBus`` is the one this project ships.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from bus.message import Message

__all__ = ["Delivery", "Publisher"]


class Delivery(NamedTuple):
    """Where a published message was stored."""

    message_id: str
    topic: str
    partition: int
    offset: int


class Publisher(Protocol):
    """Something that sends a message and says where it was stored."""

    async def publish(self, message: Message, topic: str | None = None) -> Delivery: ...
