"""The Kafka → Temporal bridge: each record of a routed topic becomes a workflow signal.

For every route (see :mod:`bus.bridge_config`) the bridge reads the topic's lanes in its own
consumer group and, per record, sends signal-with-start to the workflow the route's id
template names: the first record starts the workflow, later ones signal it. Bridged workflows
take no start argument: their input arrives as signals. The signal's one argument depends on
the route's ``format``:

- ``message``: the message as a JSON dict, ``message_id`` included, so the workflow can drop
  duplicates with :class:`bus.dedup.SeenIds` (and carry it across continue-as-new with
  ``export``/``restore``).
- ``json``: ``{"id": <dedupe id>, "value": <the JSON value>, "key": <text or null>,
  "headers": {<name>: <text>}, "topic", "partition", "offset", "timestamp_ms"}`` (see
  :meth:`~bus.bridge_config.JsonRecord.signal_argument`); workflows drop repeats by ``id``
  exactly as by ``message_id``. The bridge itself drops no repeats of json records.

Delivery: up to ``max_in_flight`` signals per route are in flight at once, to different
workflows; signals to one workflow go one after another, in record order (a record waiting
for its workflow's previous signal holds no call slot; up to 8 x ``max_in_flight`` records
are read ahead). A record's offset
is committed only after Temporal accepted its signal and every earlier record of its partition
was signalled too (see :mod:`bus.offsets`). If the bridge dies
between the signal and the commit, the record is signalled again on restart — which is why
workflows deduplicate (by ``message_id``, or ``id``): exactly once in effect. While Temporal is
unreachable the bridge retries with backoff and does not move on. A record that cannot be
decoded (not a message; for a json route not JSON, or larger than ``MAX_PAYLOAD_BYTES``), or
that lacks a field a template needs, or that Temporal refuses outright goes to the topic's
dead-letter topic with the reason in ``dlq.error``; the bridge keeps going.

Fetching: unless ``ORCH_KAFKA_FETCH_MAX_WAIT_MS`` is set, the bridge's consumers wait up to
``BRIDGE_FETCH_MAX_WAIT_MS`` (50 ms) for records, not the embedded broker's 5: Tansu answers a
fetch only when that wait ends, so at 5 ms the bridge polls it 200 times a second for
nothing while it works through what it read: in ``bench/bridge.py`` (2 cores) the broker
spent 0.4-0.7 CPU-s per 1,000 bridged records at 5 ms and 0.1-0.35 at 50, CPU the bridge and
Temporal then lack. A record may wait up to 50 ms longer on the embedded broker. Against
Kafka (500 ms, answered as soon as records arrive) nothing changes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pydantic_core
from aiokafka.structs import ConsumerRecord
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bus.bridge_config import BridgeConfig, BridgeRoute
from bus.bridge_templates import JsonRecord, render_dedupe_id, render_workflow_id
from bus.codec import present_value
from bus.message import Message
from bus.message_bus import MessageBus
from bus.metrics import bridge_signals_total
from bus.offsets import Receipt
from bus.subscription import Subscription, new_consumer
from bus.traces import record_attributes
from orchestration.core.exceptions import DecodeError, MessageBusError, TemplateError
from orchestration.core.lifecycle import cancel_and_wait
from orchestration.core.tracing import SpanKind, extract, mark_failed, span

__all__ = ["BRIDGE_FETCH_MAX_WAIT_MS", "Bridge", "decode_json_record", "signal_for"]

logger = logging.getLogger(__name__)

_TRANSIENT = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.CANCELLED,
}
_MAX_BACKOFF_S = 5.0
BRIDGE_FETCH_MAX_WAIT_MS = 50
"""The least fetch wait of the bridge's consumers unless the configuration sets one."""
_READ_AHEAD = 8
"""Records read ahead of the signals in flight: ``max_in_flight`` times this."""
_UNDECODED = Message(sender_id="bridge", message_id="undecoded", created_at=0.0)
"""What a json route's subscription hands out beside each receipt (the record is the data)."""


def decode_json_record(record: ConsumerRecord[bytes, bytes]) -> JsonRecord:
    """The JSON value of a ``format: json`` route's record, with its key, headers and place.

    Raises:
        DecodeError: no value, more than ``MAX_PAYLOAD_BYTES``, or not JSON: not UTF-8, a
            syntax error, ``NaN`` or ``Infinity``, or nested deeper than about 200 levels.
    """
    value = present_value(record.value, "a bridged record")
    try:
        parsed = pydantic_core.from_json(value, allow_inf_nan=False)
    except ValueError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    timestamp = record.timestamp
    return JsonRecord(
        value=parsed,
        key=record.key,
        headers=tuple(record.headers or ()),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=timestamp if isinstance(timestamp, int) and timestamp >= 0 else None,
    )


def signal_for(
    route: BridgeRoute, message: Message, record: ConsumerRecord[bytes, bytes]
) -> tuple[str, dict[str, Any]]:
    """The workflow id and the signal argument ``route`` sends for a record: for a message
    route the decoded ``message`` as a dict, for a json route the record's (``message`` is
    then not used). See the module docstring.

    Raises:
        DecodeError: a json route's record is not JSON (see :func:`decode_json_record`).
        TemplateError: a template's field is missing.
    """
    if route.format == "json":
        source = decode_json_record(record)
        argument = source.signal_argument(render_dedupe_id(route.dedupe_template, source))
        return render_workflow_id(route.workflow_id, source), argument
    workflow_id = render_workflow_id(route.workflow_id, message)
    return workflow_id, message.model_dump(mode="json", exclude_none=True)


class _Records(Subscription):
    """A json route's subscription: its records are handed out as they are (the data is
    ``receipt.record``), never decoded, expired or deduplicated as messages."""

    async def _accept(self, record: ConsumerRecord[bytes, bytes]) -> Message | None:
        return _UNDECODED


class Bridge:
    """Runs every route of ``config`` until cancelled (``orchestration bridge``).

    Args:
        config: the routes.
        client: a connected Temporal client (its namespace is used).
        bus: an initialized bus (its consumers read the topics; dead letters go through it).
    """

    def __init__(self, config: BridgeConfig, client: Client, bus: MessageBus) -> None:
        self._config = config
        self._client = client
        self._bus = bus
        self.signaled = 0
        self.dead_lettered = 0
        kafka = bus.config
        self._fetch_max_wait_ms = kafka.fetch_max_wait_ms or max(
            kafka.effective_fetch_max_wait_ms, BRIDGE_FETCH_MAX_WAIT_MS
        )
        self._signaled = {
            route.topic: bridge_signals_total.labels(topic=route.topic, status="signaled")
            for route in config.routes
        }

    async def run(self) -> None:
        """Bridge every route; returns only when cancelled, or raises when a route fails."""
        async with asyncio.TaskGroup() as group:
            for route in self._config.routes:
                group.create_task(self.run_route(route), name=f"bridge {route.topic}")

    async def run_route(self, route: BridgeRoute) -> None:
        """Bridge one route until cancelled.

        Up to ``route.max_in_flight`` signals are in flight at once, to different workflows;
        signals to one workflow id go one after another, in record order.
        """
        subscription = self._subscribe(route)
        # Messages read ahead (waiting for an earlier signal to their workflow, or for a call
        # slot) are bounded too; a slot is held only while its call is in flight, so messages
        # queued behind their workflow's previous signal never keep other workflows waiting.
        slots = asyncio.Semaphore(route.max_in_flight * _READ_AHEAD)
        calls = asyncio.Semaphore(route.max_in_flight)
        latest: dict[str, asyncio.Task[None]] = {}
        running: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []

        def finished(workflow_id: str, task: asyncio.Task[None]) -> None:
            slots.release()
            running.discard(task)
            if latest.get(workflow_id) is task:
                del latest[workflow_id]
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]

        async with subscription:
            logger.info(
                "bridging %s (%s) -> %s.%s (workflow id %s, task queue %s, %d in flight)",
                route.topic,
                route.format,
                route.workflow,
                route.signal,
                route.workflow_id,
                route.task_queue,
                route.max_in_flight,
            )
            try:
                async for message, receipt in subscription.receipts():
                    if failures:
                        raise failures[0]
                    try:
                        workflow_id, argument = signal_for(route, message, receipt.record)
                    except (TemplateError, DecodeError) as exc:
                        await self._dead_letter(route, subscription, receipt, str(exc))
                        continue
                    await slots.acquire()
                    task = asyncio.create_task(
                        self._deliver(
                            route, workflow_id, argument, receipt, subscription,
                            after=latest.get(workflow_id), calls=calls,
                        )
                    )  # fmt: skip
                    latest[workflow_id] = task
                    running.add(task)
                    task.add_done_callback(functools.partial(finished, workflow_id))
            finally:
                # Unacknowledged records stay uncommitted and are signalled again later.
                for task in list(running):
                    await cancel_and_wait(task)

    def _subscribe(self, route: BridgeRoute) -> Subscription:
        if route.format == "message":
            return self._bus.subscribe(
                [route.topic], route.consumer_group, fetch_max_wait_ms=self._fetch_max_wait_ms
            )
        bus = self._bus
        return _Records(
            new_consumer(
                bus.config,
                group_id=route.consumer_group,
                fetch_max_wait_ms=self._fetch_max_wait_ms,
            ),
            [route.topic],
            dead_letter=bus.dead_letter,
            dedup_window=0,
            prepare=bus.ensure_topics,
        )

    async def _deliver(
        self,
        route: BridgeRoute,
        workflow_id: str,
        argument: dict[str, Any],
        receipt: Receipt,
        subscription: Subscription,
        *,
        after: asyncio.Task[None] | None,
        calls: asyncio.Semaphore,
    ) -> None:
        if after is not None:
            await asyncio.wait([after])  # the previous signal to this workflow goes first

        def attributes() -> dict[str, Any]:
            return record_attributes(
                receipt.record,
                **{
                    "orchestration.workflow": route.workflow,
                    "orchestration.workflow_id": workflow_id,
                    "orchestration.signal": route.signal,
                },
            )

        # The signal-with-start continues the producer's trace: Temporal's interceptor carries
        # this span into the workflow.
        parent = extract(receipt.record.headers)
        with span(f"{route.topic} bridge", attributes, kind=SpanKind.CONSUMER, parent=parent):
            await self._signal(route, workflow_id, argument, receipt, subscription, calls)

    async def _signal(
        self,
        route: BridgeRoute,
        workflow_id: str,
        argument: dict[str, Any],
        receipt: Receipt,
        subscription: Subscription,
        calls: asyncio.Semaphore,
    ) -> None:
        backoff = 0.2
        while True:
            try:
                async with calls:
                    await self._client.start_workflow(
                        route.workflow,
                        id=workflow_id,
                        task_queue=route.task_queue,
                        start_signal=route.signal,
                        start_signal_args=[argument],
                    )
            except RPCError as exc:
                if exc.status in _TRANSIENT:
                    logger.warning(
                        "Temporal did not take the signal for %s (%s); retrying in %.1f s",
                        workflow_id,
                        exc.message,
                        backoff,
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
                    continue
                mark_failed(exc)
                await self._dead_letter(
                    route,
                    subscription,
                    receipt,
                    f"Temporal refused the signal to {workflow_id}: {exc}",
                )
                return
            subscription.ack(receipt)
            self.signaled += 1
            self._signaled[route.topic].inc()
            return

    async def _dead_letter(
        self, route: BridgeRoute, subscription: Subscription, receipt: Receipt, error: str
    ) -> None:
        logger.warning("dead-lettering a record of %s: %s", route.topic, error)
        try:
            await subscription.dead_letter(receipt, error, 1)
        except MessageBusError:
            logger.exception("could not dead-letter a record of %s", route.topic)
            raise
        self.dead_lettered += 1
        bridge_signals_total.labels(topic=route.topic, status="dead_letter").inc()
