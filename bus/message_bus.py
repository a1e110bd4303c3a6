"""``MessageBus``: publish, subscribe, request-response and scatter-gather on Kafka (aiokafka).

Topics: a logical topic is a lane per priority plus a dead-letter topic (see
:mod:`bus.topics`). ``publish`` sends a message to its recipient's inbox
(``agent.<recipient_id>``), else to the topic given, else to ``default_topic``; the lane
follows the message's priority. Topics are created on first use with the configured
partitions, replication factor and compression.

Delivery: the producer waits for every in-sync replica (``acks=all``) and, where the broker
supports it, is idempotent; consumers commit only what was handled (at-least-once) and drop
duplicates by message id within a bounded window (see :mod:`bus.subscription`).

Request-response: each bus instance reads replies on one topic of its own, created once and
listened to before the first request goes out; replies are matched by correlation id. Agents
answer with :meth:`MessageBus.serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from bus.admin import TopicAdmin
from bus.batching import Record, Stored, send_records
from bus.codec import dead_letter_value, encode, error_headers
from bus.message import Message
from bus.metrics import (
    message_bus_connections,
    message_bus_dead_letters_total,
    message_bus_errors_total,
    message_bus_sent_total,
)
from bus.publisher import Delivery
from bus.replies import ReplyListener
from bus.requests import gather_replies, request_reply
from bus.server import Handler, Server
from bus.subscription import Subscription, new_consumer
from bus.topics import (
    check_topic,
    dead_letter_topic,
    inbox_topic,
    lane_topic,
    logical_topic,
    metric_label,
    reply_topic,
)
from orchestration.core.coalescing import Coalescer
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import (
    ConfigurationError,
    MessageBusError,
    ValidationError,
)
from orchestration.core.lifecycle import AsyncResource
from orchestration.core.settings import get_settings
from orchestration.core.tracing import SpanKind, span
from orchestration.core.tracing import setup as setup_tracing

__all__ = ["MessageBus"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _publishing(what: str) -> Iterator[None]:
    """A broker error inside is a retriable ``MessageBusError`` ("<what> failed: ...")."""
    try:
        yield
    except (KafkaError, OSError) as exc:
        message_bus_errors_total.labels(kind="publish").inc()
        raise MessageBusError(f"{what} failed: {exc}", retriable=True) from exc


class MessageBus(AsyncResource):
    """The quick reference's ``MessageBus`` (see the module docstring).

    Args:
        config: the Kafka settings; defaults to ``get_settings().kafka``.
        instance_id: names this instance's reply topic; a fresh id by default.
    """

    def __init__(
        self, config: KafkaConfig | None = None, *, instance_id: str | None = None
    ) -> None:
        self.config = config or get_settings().kafka
        self.instance_id = instance_id or uuid.uuid4().hex[:16]
        self._producer: AIOKafkaProducer | None = None
        self._topics = TopicAdmin(self.config)
        self._valid_topics: set[str] = set()  # names check_topic accepted
        self._replies: ReplyListener | None = None
        self._replies_lock = asyncio.Lock()
        self._subscriptions: set[Subscription] = set()
        self._servers: set[Server] = set()
        self._closed = False
        self._coalescer: Coalescer[Record, Stored] = Coalescer(self._send_records)

    # -- lifecycle -----------------------------------------------------------------------

    async def initialize(self) -> None:
        """Connect the producer and create the default topic (idempotent).

        Turns tracing on when the ``OTEL_*`` settings ask for it (the W3C trace context then
        travels in record headers; see :mod:`orchestration.core.tracing`).

        Raises:
            ConfigurationError: the compression codec is unavailable, or a tracing setting
                cannot work.
            MessageBusError: the cluster cannot be reached (retriable).
        """
        if self._closed:
            raise MessageBusError("the bus is closed")
        if self._producer is not None:
            return
        setup_tracing()
        config = self.config
        servers = list(config.bootstrap_servers)
        try:
            producer = AIOKafkaProducer(
                bootstrap_servers=servers,
                client_id=config.client_id,
                acks="all",
                enable_idempotence=config.uses_idempotence,
                compression_type=None
                if config.compression_type == "none"
                else config.compression_type,
                linger_ms=config.linger_ms,
                max_batch_size=config.max_batch_bytes,
                request_timeout_ms=config.request_timeout_ms,
            )
        except (AssertionError, RuntimeError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot use compression {config.compression_type!r}: {exc}",
                setting="ORCH_KAFKA_COMPRESSION_TYPE",
            ) from None
        try:
            await producer.start()
            await self._topics.start()
        except (KafkaError, OSError) as exc:
            await producer.stop()
            raise MessageBusError(
                f"cannot connect to Kafka at {', '.join(servers)}: {exc}; start it (make demo "
                "starts an embedded broker) or set ORCH_KAFKA_BOOTSTRAP_SERVERS",
                retriable=True,
            ) from exc
        self._producer = producer
        message_bus_connections.inc()
        await self.ensure_topics([config.default_topic])

    async def close(self) -> None:
        """Stop servers, close subscriptions and flush the producer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._coalescer.drain()  # publishes already accepted are sent, not dropped
        for server in list(self._servers):
            await server.stop()
        for subscription in list(self._subscriptions):
            await subscription.close()
        if self._replies is not None:
            await self._replies.close()
        if self._producer is not None:
            await self._producer.stop()
            message_bus_connections.dec()
        await self._topics.close()

    def _ready(self) -> AIOKafkaProducer:
        if self._closed:
            raise MessageBusError("the bus is closed")
        if self._producer is None:
            raise MessageBusError("the bus is not initialized: await bus.initialize() first")
        return self._producer

    # -- topics --------------------------------------------------------------------------

    async def ensure_topics(
        self, topics: Iterable[str], *, partitions: int | None = None, lanes: bool = True
    ) -> None:
        """Create the logical topics' lanes and dead-letter topics that do not exist yet.

        Raises:
            ValidationError: a topic name is not usable.
            MessageBusError: the cluster refused to create one.
        """
        await self._topics.ensure(topics, partitions=partitions, lanes=lanes, ready=self._ready)

    def topic_for(self, message: Message, topic: str | None = None) -> str:
        """The logical topic ``publish`` sends ``message`` to (see the module docstring)."""
        if message.recipient_id is not None:
            target, field = inbox_topic(message.recipient_id), "recipient_id"
        elif topic is not None:
            target, field = topic, "topic"
        else:
            return self.config.default_topic
        if target not in self._valid_topics:
            check_topic(target, field)
            if len(self._valid_topics) >= 100_000:
                self._valid_topics.clear()
            self._valid_topics.add(target)
        return target

    # -- publishing ----------------------------------------------------------------------

    async def publish(self, message: Message, topic: str | None = None) -> Delivery:
        """Send ``message`` and wait until the cluster stored it.

        Publishes that run concurrently (``asyncio.gather``, many tasks) share sends (see
        :mod:`orchestration.core.coalescing`); each still returns only once its own message
        is stored.

        Raises:
            ValidationError: the message is already expired, or the topic name is unusable.
            MessageBusError: the cluster did not accept it (retriable).
        """
        self._ready()
        target, record = self._record(message, topic, time.time(), "")
        if not self._topics.knows(target):
            await self.ensure_topics((target,))
        with _publishing("publishing"):
            kafka_topic, partition, offset = await self._coalescer.submit(record)
        message_bus_sent_total.labels(
            topic=metric_label(target), type=message.message_type.value
        ).inc()
        return tuple.__new__(Delivery, (message.message_id, kafka_topic, partition, offset))

    def _record(
        self, message: Message, topic: str | None, now: float, where: str
    ) -> tuple[str, Record]:
        """The message's logical topic and its record; ``where`` (``messages[3]``) prefixes
        the field an error names.

        Raises:
            ValidationError: the message is already expired, or the topic name is unusable.
        """
        if message.expires_at is not None and now >= message.expires_at:
            field = f"{where}.expires_at" if where else "expires_at"
            what = f"{where} ({message.message_id})" if where else f"message {message.message_id}"
            raise ValidationError(
                f"{what} expired before it was published",
                errors=[{"field": field, "problem": "in the past"}],
            )
        target = self.topic_for(message, topic)
        key, value, headers = encode(message)
        return target, (lane_topic(target, message.priority), key, value, headers)

    async def _send_records(self, records: Sequence[Record]) -> list[Stored]:
        """The coalescer's send: it runs on while ``close`` drains it, so not ``_ready``."""
        if self._producer is None:
            raise MessageBusError("the bus is not initialized: await bus.initialize() first")
        return await send_records(self._producer, records)

    async def publish_batch(
        self, messages: Sequence[Message], topic: str | None = None
    ) -> list[Delivery]:
        """Send many messages at once (pipelined) and wait until all are stored.

        Every message is checked before any is sent; on a broker error some may have been
        stored (at-least-once: publish them again, consumers drop duplicates).

        Raises:
            ValidationError: a message is already expired, or a topic name is unusable.
            MessageBusError: the cluster did not accept them (retriable).
        """
        producer = self._ready()
        now = time.time()
        targets: list[str] = []  # each message's logical topic
        records: list[Record] = []
        for index, message in enumerate(messages):  # one pass: this loop is the bus's cost
            target, record = self._record(message, topic, now, f"messages[{index}]")
            targets.append(target)
            records.append(record)
        await self.ensure_topics(set(targets))
        with _publishing("publishing"):
            stored = await send_records(producer, records)
        counts = Counter(zip(targets, (message.message_type for message in messages), strict=True))
        for (target, kind), count in counts.items():
            message_bus_sent_total.labels(topic=metric_label(target), type=kind.value).inc(count)
        new = tuple.__new__  # a Delivery without the Python frame of its generated __new__
        return [
            new(Delivery, (message.message_id, kafka_topic, partition, offset))
            for message, (kafka_topic, partition, offset) in zip(messages, stored, strict=True)
        ]

    async def send_reply(self, reply: Message, reply_topic: str) -> None:
        """Send ``reply`` to a requester's reply topic (one topic, no lanes, created by it)."""
        producer = self._ready()
        key, value, headers = encode(reply)
        with _publishing(f"replying to {reply_topic}"):
            await producer.send_and_wait(reply_topic, value, key=key, headers=headers)
        message_bus_sent_total.labels(
            topic=metric_label(reply_topic), type=reply.message_type.value
        ).inc()

    async def dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: str, attempts: int
    ) -> None:
        """Send a consumed record to its topic's dead-letter topic: unchanged, except that a
        record too large to send again keeps only its beginning (see ``dead_letter_value``)."""
        producer = self._ready()
        topic = logical_topic(record.topic)
        value, extra = dead_letter_value(record.value)
        with _publishing("dead-lettering"):
            await producer.send_and_wait(
                dead_letter_topic(topic),
                value,
                key=record.key,
                headers=error_headers(
                    record.headers, error=error, source=record.topic, attempts=attempts
                )
                + extra,
            )
        message_bus_dead_letters_total.labels(topic=metric_label(topic)).inc()

    # -- consuming -----------------------------------------------------------------------

    def subscribe(
        self,
        topics: Sequence[str],
        group_id: str | None = None,
        *,
        fetch_max_wait_ms: int | None = None,
    ) -> Subscription:
        """An async iterator of the messages of ``topics`` (see :mod:`bus.subscription`).

        Consumers sharing a ``group_id`` share the work; each group gets every message.
        Default group: one per client id and topic list. The topics are created on start.
        ``fetch_max_wait_ms`` replaces the configuration's fetch wait for this consumer.

        Raises:
            ValidationError: no topics, or an unusable topic name.
        """
        if isinstance(topics, str):
            topics = [topics]
        if not topics:
            raise ValidationError(
                "topics must name at least one topic",
                errors=[{"field": "topics", "problem": "empty"}],
            )
        names = [check_topic(t) for t in topics]
        group = group_id or f"{self.config.client_id}:{'+'.join(sorted(names))}"
        subscription = Subscription(
            self._consumer(group_id=group, fetch_max_wait_ms=fetch_max_wait_ms),
            names,
            dead_letter=self.dead_letter,
            dedup_window=self.config.dedup_window,
            dead_letter_expired=self.config.dead_letter_expired,
            on_close=self._subscriptions.discard,
            prepare=self.ensure_topics,
        )
        self._subscriptions.add(subscription)
        return subscription

    def _consumer(
        self, *, group_id: str | None, fetch_max_wait_ms: int | None = None
    ) -> AIOKafkaConsumer:
        self._ready()
        return new_consumer(self.config, group_id=group_id, fetch_max_wait_ms=fetch_max_wait_ms)

    async def serve(
        self,
        agent_id: str,
        handler: Handler,
        *,
        group_id: str | None = None,
        max_attempts: int | None = None,
    ) -> Server:
        """Answer the requests addressed to ``agent_id`` with ``handler`` until stopped.

        ``handler(message)`` returns a payload dict (or None for no payload), sync or async.
        The bus replies to ``reply_to`` with the request's correlation id. A handler that
        raises is tried up to ``max_attempts`` times; then the requester gets an ERROR reply
        and the request goes to the inbox's dead-letter topic. Instances serving the same
        agent id share its requests.

        Returns:
            The running server; ``await server.stop()`` (or closing the bus) stops it.
        """
        topic = check_topic(inbox_topic(agent_id), "agent_id")
        subscription = self.subscribe([topic], group_id or f"agent.{agent_id}")
        server = Server(
            self,
            agent_id,
            subscription,
            handler,
            max_attempts=max_attempts or self.config.max_delivery_attempts,
            on_stop=self._servers.discard,
        )
        self._servers.add(server)
        await server.start()
        return server

    # -- request-response ----------------------------------------------------------------

    async def _reply_listener(self) -> ReplyListener:
        if self._replies is not None:
            return self._replies
        async with self._replies_lock:
            if self._replies is None:
                topic = reply_topic(self.instance_id)
                await self.ensure_topics([topic], partitions=1, lanes=False)
                listener = ReplyListener(self._consumer(group_id=None), topic)
                await listener.start()
                self._replies = listener
        return self._replies

    async def request_response(self, message: Message, timeout_ms: int = 5000) -> Message:
        """Send a request and wait for its one reply.

        The request goes out with ``reply_to`` set to this instance's reply topic and a
        correlation id (its own, else its message id).

        Raises:
            RequestTimeoutError: no reply within ``timeout_ms`` (also a ``TimeoutError``).
            RequestFailedError: the agent answered with an ERROR reply.
            ValidationError: the message names no recipient, or the timeout is not positive.
        """
        return await request_reply(message, timeout_ms, self.scatter_gather)

    async def scatter_gather(
        self,
        request: Message,
        expected_responses: int,
        timeout_ms: int = 5000,
        *,
        recipients: Sequence[str] | None = None,
        topic: str | None = None,
    ) -> list[Message]:
        """Send a request and collect up to ``expected_responses`` replies, or until timeout.

        With ``recipients``, a copy goes to each agent's inbox (one correlation id for all);
        otherwise the request goes where ``publish`` sends it (its recipient, or ``topic``
        for a topic several agents' groups read). Returns the replies in arrival order,
        RESPONSE and ERROR alike: fewer than expected when the timeout passed, never padded.

        Raises:
            ValidationError: ``expected_responses`` or ``timeout_ms`` below 1, or a recipient
                that is not an agent id.
        """

        def attributes() -> dict[str, Any]:
            return {
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.message.id": request.message_id,
                "orchestration.recipients": list(recipients) if recipients else None,
                "orchestration.expected_responses": expected_responses,
            }

        target = request.recipient_id or topic or "recipients"
        with span(f"{target} request", attributes, kind=SpanKind.PRODUCER):
            return await gather_replies(
                request,
                expected_responses,
                timeout_ms,
                listen=self._reply_listener,
                publish_batch=self.publish_batch,
                recipients=recipients,
                topic=topic,
            )
