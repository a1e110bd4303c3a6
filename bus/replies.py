"""The reply side of request-response: one topic per bus instance, read without a group.

The listener assigns itself the reply topic's only partition and seeks to its end before the
first request goes out, so it is ready at once (no group join) and sees every reply sent after
that. Replies are matched to waiters by correlation id; a reply nobody waits for any more (it
came after its timeout) is counted and dropped.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from bus.codec import decode
from bus.message import Message
from bus.metrics import message_bus_connections, message_bus_errors_total
from orchestration.core.exceptions import DecodeError
from orchestration.core.lifecycle import cancel_and_wait

__all__ = ["ReplyListener"]

logger = logging.getLogger(__name__)


class ReplyListener:
    """Collects the replies addressed to one reply topic, by correlation id."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        self._consumer = consumer
        self.topic = topic
        self._waiters: dict[str, asyncio.Queue[Message]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start reading from the end of the topic; returns once the position is fixed."""
        partition = TopicPartition(self.topic, 0)
        await self._consumer.start()
        message_bus_connections.inc()
        self._consumer.assign([partition])
        await self._consumer.seek_to_end(partition)
        await self._consumer.position(partition)
        self._task = asyncio.create_task(self._run(), name=f"replies {self.topic}")

    async def close(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)
            await self._consumer.stop()
            message_bus_connections.dec()

    def expect(self, correlation_id: str) -> asyncio.Queue[Message]:
        """A queue that receives every reply with ``correlation_id`` until :meth:`forget`."""
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self._waiters[correlation_id] = queue
        return queue

    def forget(self, correlation_id: str) -> None:
        self._waiters.pop(correlation_id, None)

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except (KafkaError, OSError) as exc:
                message_bus_errors_total.labels(kind="reply").inc()
                logger.warning("reading replies on %s failed, retrying: %s", self.topic, exc)
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    self._dispatch(record.value)

    def _dispatch(self, value: bytes | None) -> None:
        try:
            reply = decode(value)
        except DecodeError as exc:
            message_bus_errors_total.labels(kind="decode").inc()
            logger.warning("dropped an undecodable reply on %s: %s", self.topic, exc)
            return
        queue = self._waiters.get(reply.correlation_id or "")
        if queue is None:
            message_bus_errors_total.labels(kind="late_reply").inc()
            logger.debug(
                "dropped reply %s: nobody waits for correlation id %s (timed out?)",
                reply.message_id,
                reply.correlation_id,
            )
            return
        queue.put_nowait(reply)
