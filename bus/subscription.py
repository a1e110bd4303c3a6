"""One consumer-group subscription: priority lanes, at-least-once commits, TTL, duplicates.

A :class:`Subscription` is an async iterator of :class:`~bus.message.Message`. It reads every
priority lane of its logical topics with one Kafka consumer and hands out messages most urgent
lane first, without starving the others (:class:`~bus.lanes.LaneScheduler`); within one
partition the order is kept.

At-least-once: a message counts as handled when the next one is asked for (or on
:meth:`Subscription.commit`); only handled offsets are committed, so a consumer that dies
while handling a message leaves it to be delivered again. Commits are batched (every
``commit_every`` messages or ``commit_interval_s``) and made when partitions are revoked and
when the subscription closes.

Before a message is handed out it is checked: a record that cannot be decoded goes to the
dead-letter topic (``<topic>.dlq``, the error in its headers); an expired message is dropped and
counted (and dead-lettered when configured); a message id seen within the last
``dedup_window`` messages is dropped as a duplicate. Each of these is handled at once, so it is
never delivered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from prometheus_client import Counter, Histogram

from bus.codec import decode
from bus.dedup import SeenIds
from bus.lanes import LaneScheduler
from bus.message import Message, Priority
from bus.metrics import (
    message_bus_connections,
    message_bus_dropped_total,
    message_bus_errors_total,
    message_bus_latency_ms,
    message_bus_received_total,
)
from bus.offsets import OffsetTracker, Receipt
from bus.topics import lane_topics, logical_topic, metric_label, priority_of_lane
from bus.traces import record_attributes
from orchestration.core import tracing
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import DecodeError, MessageBusError
from orchestration.core.lifecycle import AsyncResource

__all__ = ["DeadLetterSink", "Subscription", "new_consumer"]

logger = logging.getLogger(__name__)

DeadLetterSink = Callable[[ConsumerRecord[bytes, bytes], str, int], Awaitable[None]]
"""Sends a record to its topic's dead-letter topic with an error and an attempt count."""

_POLL_EVERY = 64
"""Look for newly arrived (possibly more urgent) records after this many deliveries."""


def new_consumer(
    config: KafkaConfig, *, group_id: str | None, fetch_max_wait_ms: int | None = None
) -> AIOKafkaConsumer:
    """A consumer as the bus uses them: manual commits, the configured fetch and session
    timeouts; ``group_id`` None for one that assigns itself partitions (the reply listener);
    ``fetch_max_wait_ms`` instead of the configuration's effective fetch wait."""
    return AIOKafkaConsumer(
        bootstrap_servers=list(config.bootstrap_servers),
        client_id=config.client_id,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=config.auto_offset_reset,
        request_timeout_ms=max(config.request_timeout_ms, 40_000),
        fetch_max_wait_ms=fetch_max_wait_ms or config.effective_fetch_max_wait_ms,
        session_timeout_ms=config.effective_session_timeout_ms,
        heartbeat_interval_ms=max(100, config.effective_session_timeout_ms // 4),
    )


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._subscription._release(set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        return None


class Subscription(AsyncResource):
    """Messages of some logical topics for one consumer group (see the module docstring).

    Use it as ``async for message in subscription`` (it starts on first use) and close it when
    done, or ``async with``. Created by ``MessageBus.subscribe``.

    Args:
        consumer: a not yet started consumer with ``enable_auto_commit=False``.
        topics: the logical topics (their lane topics must exist).
        dead_letter: where undecodable and (if ``dead_letter_expired``) expired records go.
        dedup_window: how many message ids to remember; 0 turns duplicate dropping off.
        dead_letter_expired: dead-letter expired messages as well as counting them.
        commit_every: commit after this many handled messages...
        commit_interval_s: ...or this long after the last commit, whichever comes first.
        poll_timeout_ms: how long one fetch waits for records.
        on_close: called with the subscription when it closes.
        prepare: awaited with ``topics`` before joining the group (the bus creates them).
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: list[str],
        *,
        dead_letter: DeadLetterSink,
        dedup_window: int = 10_000,
        dead_letter_expired: bool = True,
        commit_every: int = 500,
        commit_interval_s: float = 1.0,
        poll_timeout_ms: int = 200,
        on_close: Callable[[Subscription], None] | None = None,
        prepare: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._consumer = consumer
        self._prepare = prepare
        self.topics = list(topics)
        self._dead_letter = dead_letter
        self._seen = SeenIds(dedup_window)
        self._dead_letter_expired = dead_letter_expired
        self._commit_every = commit_every
        self._commit_interval_s = commit_interval_s
        self._poll_timeout_ms = poll_timeout_ms
        self._on_close = on_close
        self._lanes: list[deque[ConsumerRecord[bytes, bytes]]] = [deque() for _ in Priority]
        self._scheduler = LaneScheduler()
        # Per Kafka topic: its metric label and latency histogram; per (label, type): the
        # received counter (labels() is a lock and a dict lookup, once per message otherwise).
        self._latency: dict[str, tuple[str, Histogram]] = {}
        self._received: dict[tuple[str, str], Counter] = {}
        self._offsets = OffsetTracker()
        self._committed: dict[TopicPartition, int] = {}
        self._current: Receipt | None = None
        self._span: tracing.Attached | None = None  # the consumer span of _current
        self._since_commit = 0
        self._last_commit = time.monotonic()
        self._since_poll = 0
        self._started = False
        self._closed = False
        self._start_lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Join the group (idempotent); called by the first ``__anext__`` if not before.

        Raises:
            MessageBusError: the broker cannot be reached (retriable).
        """
        async with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise MessageBusError("the subscription is closed")
            if self._prepare is not None:
                await self._prepare(self.topics)
            kafka_topics = [lane for topic in self.topics for lane in lane_topics(topic)]
            self._consumer.subscribe(kafka_topics, listener=_Revocations(self))
            try:
                await self._consumer.start()
            except (KafkaError, OSError) as exc:
                raise MessageBusError(
                    f"cannot start a consumer for {', '.join(self.topics)}: {exc}",
                    retriable=True,
                ) from exc
            self._started = True
            message_bus_connections.inc()

    async def close(self) -> None:
        """Commit what was handled and leave the group (idempotent).

        The last message handed out is not counted as handled (it may be redelivered); call
        :meth:`commit` first if it was.
        """
        if self._closed:
            return
        self._closed = True
        if self._span is not None:
            tracing.detach(self._span, restore=False)  # perhaps another task's context
            self._span = None
        if self._on_close is not None:
            self._on_close(self)
        if not self._started:
            return
        try:
            with contextlib.suppress(KafkaError, OSError):
                await self._commit()
        finally:
            await self._consumer.stop()
            message_bus_connections.dec()

    # ``async with subscription:`` starts it (close() is the other end).
    initialize = start

    @property
    def closed(self) -> bool:
        return self._closed

    # -- iteration -----------------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        """The next message; with tracing on, the loop body that handles it runs in a
        consumer span continuing the publisher's trace, ended when the next is asked for."""
        self._mark_current_handled()
        if self._span is not None:
            tracing.detach(self._span)
            self._span = None
        message, self._current = await self._next()
        if tracing.active():
            record = self._current.record
            self._span = tracing.attach_remote(
                f"{logical_topic(record.topic)} process",
                tracing.extract(record.headers),
                record_attributes(record, **{"messaging.message.id": message.message_id}),
            )
        return message

    def receipts(self) -> AsyncIterator[tuple[Message, Receipt]]:
        """Messages with receipts, for handling several at once: a message counts as handled
        only once its receipt is passed to :meth:`ack` (or :meth:`dead_letter`), in any
        order; a partition's offset is committed up to its first unfinished message."""
        return self._receipts()

    async def _receipts(self) -> AsyncIterator[tuple[Message, Receipt]]:
        while True:
            try:
                yield await self._next()
            except StopAsyncIteration:
                return

    def ack(self, receipt: Receipt) -> None:
        """The message of ``receipt`` is handled (committed with the next batch)."""
        self._finish(receipt)

    async def dead_letter(self, receipt: Receipt, error: str, attempts: int) -> None:
        """Send the message of ``receipt`` to the dead-letter topic; it counts as handled."""
        await self._dead_letter(receipt.record, error, attempts)
        self._finish(receipt)

    async def _next(self) -> tuple[Message, Receipt]:
        if not self._started:
            await self.start()
        await self._maybe_commit()
        while True:
            if self._closed:
                raise StopAsyncIteration
            waiting = [len(lane) for lane in self._lanes]
            if not any(waiting) or self._since_poll >= _POLL_EVERY:
                await self._fill(block=not any(waiting))
                continue
            lane = self._scheduler.next(waiting)
            if lane is None:  # pragma: no cover - a waiting lane always has credit
                continue
            record = self._lanes[lane].popleft()
            self._since_poll += 1
            receipt = self._offsets.take(record)
            message = await self._accept(record)
            if message is None:
                self._finish(receipt)
                continue
            return message, receipt

    async def commit(self) -> None:
        """Count the last message handed out as handled and commit every handled offset."""
        self._mark_current_handled()
        await self._commit()

    async def dead_letter_current(self, error: str, attempts: int) -> None:
        """Send the last message handed out to the dead-letter topic; it counts as handled."""
        receipt = self._current
        if receipt is None:
            raise MessageBusError("no message has been handed out to dead-letter")
        await self._dead_letter(receipt.record, error, attempts)
        self._mark_current_handled()

    # -- internals -----------------------------------------------------------------------

    async def _fill(self, *, block: bool) -> None:
        self._since_poll = 0
        try:
            batches = await self._consumer.getmany(
                timeout_ms=self._poll_timeout_ms if block else 0, max_records=2000
            )
        except (KafkaError, OSError) as exc:
            message_bus_errors_total.labels(kind="consume").inc()
            raise MessageBusError(f"consuming {', '.join(self.topics)} failed: {exc}") from exc
        for partition, records in batches.items():
            self._lanes[priority_of_lane(partition.topic)].extend(records)
        if block and not batches:
            await self._maybe_commit()  # idle: commit what was acknowledged meanwhile

    async def _accept(self, record: ConsumerRecord[bytes, bytes]) -> Message | None:
        metrics = self._latency.get(record.topic)
        if metrics is None:
            label = metric_label(logical_topic(record.topic))
            metrics = self._latency[record.topic] = (label, message_bus_latency_ms.labels(label))
        label, latency = metrics
        try:
            message = decode(record.value)
        except DecodeError as exc:
            message_bus_errors_total.labels(kind="decode").inc()
            logger.warning(
                "dead-lettering an undecodable record %s[%d]@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            await self._dead_letter(record, str(exc), 1)
            return None
        now = time.time()
        if message.expired(now):
            message_bus_dropped_total.labels(topic=label, reason="expired").inc()
            if self._dead_letter_expired:
                await self._dead_letter(record, "expired before delivery", 0)
            return None
        if not self._seen.add(message.message_id):
            message_bus_dropped_total.labels(topic=label, reason="duplicate").inc()
            logger.debug("dropped duplicate message %s on %s", message.message_id, record.topic)
            return None
        kind = message.message_type.value
        received = self._received.get((label, kind))
        if received is None:
            received = self._received[label, kind] = message_bus_received_total.labels(label, kind)
        received.inc()
        latency.observe(max(0.0, (now - message.created_at) * 1000))
        return message

    def _mark_current_handled(self) -> None:
        if self._current is not None:
            self._finish(self._current)
            self._current = None

    def _finish(self, receipt: Receipt) -> None:
        if receipt.partition not in self._consumer.assignment():
            # Revoked while the record was in hand: its new owner delivers it again, and
            # committing a partition this consumer no longer owns would fail.
            return
        self._offsets.finish(receipt)
        self._since_commit += 1

    async def _maybe_commit(self) -> None:
        if self._since_commit >= self._commit_every or (
            self._since_commit and time.monotonic() - self._last_commit >= self._commit_interval_s
        ):
            try:
                await self._commit()
            except (KafkaError, OSError) as exc:
                # E.g. the group is rebalancing. The offsets stay pending for the next
                # commit; at worst their messages are delivered again (at-least-once).
                message_bus_errors_total.labels(kind="commit").inc()
                logger.warning("committing %s failed: %s", ", ".join(self.topics), exc)

    async def _commit(self, partitions: set[TopicPartition] | None = None) -> None:
        offsets = {
            tp: offset
            for tp, offset in self._offsets.committable().items()
            if self._committed.get(tp) != offset and (partitions is None or tp in partitions)
        }
        self._since_commit = 0
        self._last_commit = time.monotonic()
        if not offsets:
            return
        await self._consumer.commit(offsets)
        self._committed.update(offsets)

    async def _release(self, revoked: set[TopicPartition]) -> None:
        """Partitions are being taken away: commit what was handled, drop what was not."""
        if not revoked:
            return
        try:
            await self._commit(revoked)
        except (KafkaError, OSError) as exc:
            logger.warning(
                "could not commit revoked partitions (they will be redelivered): %s", exc
            )
        for lane in self._lanes:
            kept = [r for r in lane if TopicPartition(r.topic, r.partition) not in revoked]
            lane.clear()
            lane.extend(kept)
        self._offsets.forget(revoked)
        for tp in revoked:
            self._committed.pop(tp, None)
