"""Serving an agent's inbox: each request goes to a handler and its result back as the reply."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bus.message import Message, MessageType
from bus.metrics import message_bus_errors_total
from bus.subscription import Subscription
from orchestration.core.exceptions import MessageBusError, OrchestrationError
from orchestration.core.lifecycle import cancel_and_wait
from orchestration.core.tracing import mark_failed

__all__ = ["Handler", "ReplySender", "Server", "error_type", "retriable"]

logger = logging.getLogger(__name__)

Handler = Callable[[Message], "dict[str, Any] | Awaitable[dict[str, Any] | None] | None"]
"""Takes a request, returns the reply's payload (sync or async)."""


def retriable(error: BaseException) -> bool:
    """False for an error that says trying again cannot help: an ``OrchestrationError`` that
    is not retriable (a ``ValidationError``), or a Temporal ``ApplicationError`` marked
    non-retryable (an agent's rejected input). Such a failure is answered at once."""
    if isinstance(error, OrchestrationError):
        return error.retriable
    return not getattr(error, "non_retryable", False)


def error_type(error: BaseException) -> str:
    """The type an ERROR reply names: an ``ApplicationError``'s own ``type``, if it has one,
    else the exception's class name."""
    given = getattr(error, "type", None)
    return given if isinstance(given, str) and given else type(error).__name__


class ReplySender(Protocol):
    """What a server needs of the bus: sending a reply to a requester's reply topic."""

    async def send_reply(self, reply: Message, reply_topic: str) -> None: ...


class Server:
    """Runs ``handler`` over one agent's inbox until stopped (see ``MessageBus.serve``)."""

    def __init__(
        self,
        bus: ReplySender,
        agent_id: str,
        subscription: Subscription,
        handler: Handler,
        *,
        max_attempts: int,
        on_stop: Callable[[Server], None] | None = None,
    ) -> None:
        self._bus = bus
        self.agent_id = agent_id
        self._subscription = subscription
        self._handler = handler
        self._max_attempts = max_attempts
        self._on_stop = on_stop
        self._task: asyncio.Task[None] | None = None
        self.handled = 0
        self.failed = 0

    async def start(self) -> None:
        """Join the inbox's group; returns once the server is consuming."""
        await self._subscription.start()
        self._task = asyncio.create_task(self._run(), name=f"serve {self.agent_id}")

    async def stop(self) -> None:
        """Stop after the request in hand, commit what was answered, leave the group."""
        if self._on_stop is not None:
            self._on_stop(self)
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._subscription.close()

    async def wait(self) -> None:
        """Until the server stops (a consumer failure ends it with that error)."""
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        try:
            # A request counts as handled (committable) once the next one is asked for.
            async for request in self._subscription:
                await self._answer(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "agent %s stopped serving; unanswered requests stay in its inbox", self.agent_id
            )
            raise

    async def _answer(self, request: Message) -> None:
        error: BaseException | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                result = self._handler(request)
                if inspect.isawaitable(result):
                    result = await result
                if result is not None and not isinstance(result, dict):
                    raise MessageBusError(
                        f"the handler returned {type(result).__name__}, not a payload dict"
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the handler's failure, whatever it is, is reported
                error = exc
                logger.warning(
                    "agent %s failed on %s (attempt %d of %d): %s",
                    self.agent_id,
                    request.message_id,
                    attempt,
                    self._max_attempts,
                    exc,
                )
                if not retriable(exc):
                    break
                continue
            self.handled += 1
            await self._reply(request, MessageType.RESPONSE, result or {})
            return
        assert error is not None
        mark_failed(error)  # the consumer span the request is handled in
        self.failed += 1
        message_bus_errors_total.labels(kind="handler").inc()
        text = f"{error_type(error)}: {getattr(error, 'message', None) or error}"
        # Dead-letter first: a requester that got the ERROR reply can rely on the request
        # being in the dead-letter topic already (and a stop between the two loses nothing).
        await self._subscription.dead_letter_current(text, attempt)
        await self._reply(
            request,
            MessageType.ERROR,
            {
                "error": text,
                "error_type": error_type(error),
                "attempts": attempt,
                "retriable": retriable(error),
            },
        )

    async def _reply(self, request: Message, kind: MessageType, payload: dict[str, Any]) -> None:
        if request.reply_to is None:
            return
        reply = Message(
            sender_id=self.agent_id,
            recipient_id=None,
            message_type=kind,
            priority=request.priority,
            payload=payload,
            correlation_id=request.correlation_id or request.message_id,
            causation_id=request.message_id,
            trace_id=request.trace_id,
        )
        await self._bus.send_reply(reply, request.reply_to)
