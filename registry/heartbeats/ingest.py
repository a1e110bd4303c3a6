"""Heartbeats from Kafka: HEARTBEAT messages on a topic, accepted into the registry in batches.

Agents that speak Kafka publish ``heartbeat_message(agent_id, metrics)`` to the heartbeat topic
(``ORCH_REGISTRY_HEARTBEAT_TOPIC``, default ``registry.heartbeats``) instead of calling the HTTP
API. :class:`HeartbeatIngest` reads that topic in the registry's consumer group and hands each
heartbeat to ``LocalAgentRegistry.heartbeat``, which buffers it (one sample per agent, the
latest wins) and writes the buffer in one statement per flush — so a burst of N heartbeats
costs one write, not N. The sender is the agent. A heartbeat of an unknown agent, or with
invalid metrics, is dead-lettered with the reason and the ingest carries on; messages of other
types on the topic are ignored. A heartbeat counts as handled once the registry accepted it into
its buffer: one lost in a crash before the next flush is replaced by the agent's next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bus.message import Message, MessageType, Priority
from bus.message_bus import MessageBus
from orchestration.core.exceptions import AgentNotFoundError, ValidationError
from orchestration.core.lifecycle import cancel_and_wait

__all__ = ["DEFAULT_HEARTBEAT_TOPIC", "HeartbeatIngest", "HeartbeatSink", "heartbeat_message"]

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_TOPIC = "registry.heartbeats"


def heartbeat_message(agent_id: str, metrics: Mapping[str, Any] | None = None) -> Message:
    """The HEARTBEAT message an agent publishes to the heartbeat topic.

    It expires after a minute (a stale heartbeat says nothing about the agent now) and travels
    in the HIGH lane, so a backlog of events does not make healthy agents look silent.
    """
    return Message(
        sender_id=agent_id,
        message_type=MessageType.HEARTBEAT,
        priority=Priority.HIGH,
        payload=dict(metrics or {}),
        ttl_ms=60_000,
    )


class HeartbeatSink(Protocol):
    """Where ingested heartbeats go: ``LocalAgentRegistry.heartbeat``."""

    async def heartbeat(self, agent_id: str, metrics: Mapping[str, Any] | None = None) -> None: ...


class HeartbeatIngest:
    """Feeds the heartbeat topic into a registry until stopped.

    Args:
        registry: an initialized in-process registry.
        bus: an initialized bus.
        topic: the heartbeat topic.
        group_id: the consumer group; registry processes sharing it share the topic.
    """

    def __init__(
        self,
        registry: HeartbeatSink,
        bus: MessageBus,
        *,
        topic: str = DEFAULT_HEARTBEAT_TOPIC,
        group_id: str = "registry.heartbeats",
    ) -> None:
        self._registry = registry
        self._bus = bus
        self._topic = topic
        self._group_id = group_id
        self._task: asyncio.Task[None] | None = None
        self.accepted = 0
        self.rejected = 0

    async def start(self) -> None:
        """Join the group and start ingesting in the background."""
        subscription = self._bus.subscribe([self._topic], self._group_id)
        await subscription.start()
        self._task = asyncio.create_task(self._run(subscription), name="heartbeat ingest")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self, subscription: Any) -> None:
        async with subscription:
            async for message in subscription:
                if message.message_type is not MessageType.HEARTBEAT:
                    continue
                try:
                    await self._registry.heartbeat(message.sender_id, message.payload)
                except (AgentNotFoundError, ValidationError) as exc:
                    self.rejected += 1
                    logger.warning("dead-lettering a heartbeat from %s: %s", message.sender_id, exc)
                    await subscription.dead_letter_current(str(exc), 1)
                    continue
                self.accepted += 1
