"""The Kafka → Temporal bridge: each message of a routed topic becomes a workflow signal.

For every route (see :mod:`bus.bridge_config`) the bridge reads the topic's lanes in its own
consumer group and, per message, sends signal-with-start to the workflow the route's id
template names: the first message starts the workflow, later ones signal it. The signal's
one argument is the message as a JSON dict, ``message_id`` included, so the workflow can drop
duplicates with :class:`bus.dedup.SeenIds` (and carry it across continue-as-new with
``export``/``restore``). Bridged workflows take no start argument: their input arrives as
signals.

Delivery: up to ``max_in_flight`` signals per route are in flight at once, to different
workflows; signals to one workflow go one after another, in message order (a message waiting
for its workflow's previous signal holds no call slot; up to 8 x ``max_in_flight`` messages
are read ahead). A message's offset
is committed only after Temporal accepted its signal and every earlier message of its partition
was signalled too (see :mod:`bus.offsets`). If the bridge dies
between the signal and the commit, the message is signalled again on restart — which is why
workflows deduplicate by ``message_id``: exactly once in effect. While Temporal is unreachable
the bridge retries with backoff and does not move on. A message that cannot be decoded, or
that lacks a field the id template needs, or that Temporal refuses outright goes to the
topic's dead-letter topic; the bridge keeps going.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bus.bridge_config import BridgeConfig, BridgeRoute, render_workflow_id
from bus.message import Message
from bus.message_bus import MessageBus
from bus.metrics import bridge_signals_total
from bus.offsets import Receipt
from bus.subscription import Subscription
from orchestration.core.exceptions import MessageBusError, TemplateError
from orchestration.core.lifecycle import cancel_and_wait

__all__ = ["Bridge"]

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
_READ_AHEAD = 8
"""Messages read ahead of the signals in flight: ``max_in_flight`` times this."""


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

    async def run(self) -> None:
        """Bridge every route; returns only when cancelled, or raises when a route fails."""
        async with asyncio.TaskGroup() as group:
            for route in self._config.routes:
                group.create_task(self.run_route(route), name=f"bridge {route.topic}")

    async def run_route(self, route: BridgeRoute) -> None:
        """Bridge one route until cancelled.

        Up to ``route.max_in_flight`` signals are in flight at once, to different workflows;
        signals to one workflow id go one after another, in message order.
        """
        subscription = self._bus.subscribe([route.topic], route.consumer_group)
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
                "bridging %s -> %s.%s (workflow id %s, task queue %s, %d in flight)",
                route.topic,
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
                        workflow_id = render_workflow_id(route.workflow_id, message)
                    except TemplateError as exc:
                        await self._dead_letter(route, subscription, receipt, str(exc))
                        continue
                    await slots.acquire()
                    task = asyncio.create_task(
                        self._deliver(
                            route, workflow_id, message, receipt, subscription,
                            after=latest.get(workflow_id), calls=calls,
                        )
                    )  # fmt: skip
                    latest[workflow_id] = task
                    running.add(task)
                    task.add_done_callback(functools.partial(finished, workflow_id))
            finally:
                # Unacknowledged messages stay uncommitted and are signalled again later.
                for task in list(running):
                    await cancel_and_wait(task)

    async def _deliver(
        self,
        route: BridgeRoute,
        workflow_id: str,
        message: Message,
        receipt: Receipt,
        subscription: Subscription,
        *,
        after: asyncio.Task[None] | None,
        calls: asyncio.Semaphore,
    ) -> None:
        if after is not None:
            await asyncio.wait([after])  # the previous signal to this workflow goes first
        argument: dict[str, Any] = message.model_dump(mode="json", exclude_none=True)
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
                await self._dead_letter(
                    route,
                    subscription,
                    receipt,
                    f"Temporal refused the signal to {workflow_id}: {exc}",
                )
                return
            subscription.ack(receipt)
            self.signaled += 1
            bridge_signals_total.labels(topic=route.topic, status="signaled").inc()
            return

    async def _dead_letter(
        self, route: BridgeRoute, subscription: Subscription, receipt: Receipt, error: str
    ) -> None:
        logger.warning("dead-lettering a message of %s: %s", route.topic, error)
        try:
            await subscription.dead_letter(receipt, error, 1)
        except MessageBusError:
            logger.exception("could not dead-letter a message of %s", route.topic)
            raise
        self.dead_lettered += 1
        bridge_signals_total.labels(topic=route.topic, status="dead_letter").inc()
