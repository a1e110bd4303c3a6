"""``orchestration.kafka_call``: a step's call to an agent that answers on the bus.

An agent registered with ``endpoint="kafka://<inbox>"`` polls no task queue: it answers
requests in its bus inbox (``bus.serve``). Workflows call it through this activity, which the
orchestration worker runs. One attempt sends one request, ``ttl_ms`` set to the call's
timeout (an agent that comes back later does not act on it), and waits for the reply while it
heartbeats. The request is the JSON every agent gets plus the action's name::

    {"action": "calculate", "data": {...}, "idempotency_key": "<saga>/<step>",
     "caller": "<workflow id>", "context": {...}}

The reply's payload is the call's output. An ERROR reply fails the attempt with the agent's
error type and message, non-retryable when the reply says ``"retriable": false``; no reply
within the timeout fails it retryably (the retry policy, or the router, tries again with the
same idempotency key). A reply that comes after its attempt gave up is ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from bus.message import Message, MessageType
from bus.message_bus import MessageBus
from orchestration.core.exceptions import (
    MessageBusError,
    RequestFailedError,
    RequestTimeoutError,
)
from orchestration.core.lifecycle import cancel_and_wait
from orchestration.core.settings import Settings
from workflows.models import KAFKA_CALL_ACTIVITY, KafkaCall

__all__ = ["SENDER", "KafkaCalls", "request_payload"]

log = logging.getLogger(__name__)

SENDER = "orchestration-worker"
"""The ``sender_id`` of the requests the worker sends to Kafka agents."""
_HEARTBEAT_S = 3.0


def request_payload(call: KafkaCall) -> dict[str, Any]:
    """The request's payload: the action's name and what an agent's action receives."""
    return {"action": call.action, **call.request.model_dump(mode="json")}


class KafkaCalls:
    """The worker's calls to Kafka agents, over one bus it opens on the first call.

    Args:
        settings: the worker's settings (``settings.kafka`` is the broker).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._owned: MessageBus | None = None
        self._lock = asyncio.Lock()

    def activity(self) -> Callable[[KafkaCall], Awaitable[Any]]:
        """The ``orchestration.kafka_call`` activity."""

        @activity.defn(name=KAFKA_CALL_ACTIVITY)
        async def kafka_call(call: KafkaCall) -> Any:
            return await self.call(call)

        return kafka_call

    async def call(self, call: KafkaCall) -> Any:
        """Send the request and return the reply's payload (see the module's docstring).

        Raises:
            ApplicationError: an ERROR reply (its type and message), no reply in time
                (``RequestTimeoutError``), or the broker not reachable (``MessageBusError``).
        """
        message = Message(
            sender_id=SENDER,
            recipient_id=call.inbox,
            message_type=MessageType.REQUEST,
            payload=request_payload(call),
            ttl_ms=call.timeout_ms,
        )
        try:
            bus = await self._open()
            reply = await _heartbeating(bus.request_response(message, call.timeout_ms))
        except RequestFailedError as exc:
            payload = exc.reply.payload
            kind = str(payload.get("error_type") or "AgentError")
            # As a Temporal agent's failure reads: the agent's type and message.
            text = str(payload.get("error") or "unknown error").removeprefix(f"{kind}: ")
            raise ApplicationError(text, type=kind, non_retryable=not exc.retriable) from None
        except RequestTimeoutError:
            raise ApplicationError(
                f"{call.agent_id}.{call.action}: no reply from the agent's inbox "
                f"{call.inbox} within {call.timeout_ms} ms; is the agent serving it?",
                type="RequestTimeoutError",
            ) from None
        except MessageBusError as exc:
            raise ApplicationError(
                f"{call.agent_id}.{call.action}: cannot reach the bus: {exc}",
                type="MessageBusError",
            ) from None
        log.debug("%s.%s answered over Kafka", call.agent_id, call.action)
        return reply.payload

    async def close(self) -> None:
        """Close the bus this opened, if any."""
        async with self._lock:
            bus, self._owned = self._owned, None
            if bus is not None:
                await bus.close()

    async def _open(self) -> MessageBus:
        async with self._lock:
            if self._owned is None:
                bus = MessageBus(self._settings.kafka)
                await bus.initialize()
                self._owned = bus
            return self._owned


async def _heartbeating(waiting: Awaitable[Message]) -> Message:
    """Await the reply, heartbeating meanwhile (a cancelled call stops waiting)."""
    task = asyncio.ensure_future(waiting)
    info = activity.info()
    interval = _HEARTBEAT_S
    if info.heartbeat_timeout is not None:
        interval = min(interval, info.heartbeat_timeout.total_seconds() / 3)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        await cancel_and_wait(task)
