"""Scatter-gather on the bus: one request out (or a copy per recipient), replies collected.

Every copy carries the requester's reply topic and one correlation id; replies are collected
from the :class:`~bus.replies.ReplyListener` in arrival order until enough came or the
timeout passed. ``MessageBus.scatter_gather`` and ``request_response`` are built on it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pydantic

from bus.message import Id, Message, MessageType
from bus.publisher import Delivery
from bus.replies import ReplyListener
from orchestration.core.exceptions import RequestFailedError, RequestTimeoutError, ValidationError

__all__ = ["gather_replies", "request_reply"]

_AGENT_ID: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(Id)

PublishBatch = Callable[[Sequence[Message], str | None], Awaitable[list[Delivery]]]


async def gather_replies(
    request: Message,
    expected_responses: int,
    timeout_ms: int,
    *,
    listen: Callable[[], Awaitable[ReplyListener]],
    publish_batch: PublishBatch,
    recipients: Sequence[str] | None = None,
    topic: str | None = None,
) -> list[Message]:
    """See ``MessageBus.scatter_gather``; ``listen`` gives the bus's reply listener (started
    on first use) and ``publish_batch`` sends."""
    for field, value in (
        ("expected_responses", expected_responses),
        ("timeout_ms", timeout_ms),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(
                f"{field} must be a positive integer (got {value!r})",
                errors=[{"field": field, "problem": "must be a positive integer"}],
            )
    listener = await listen()
    correlation = request.correlation_id or request.message_id
    stamp: dict[str, Any] = {
        "reply_to": listener.topic,
        "correlation_id": correlation,
        "message_type": request.message_type
        if request.message_type is MessageType.REQUEST
        else MessageType.REQUEST,
    }
    if recipients:
        for index, agent in enumerate(recipients):
            # model_copy does not validate: refuse what Message(recipient_id=...) would.
            try:
                _AGENT_ID.validate_python(agent, strict=True)
            except pydantic.ValidationError as exc:
                problem = exc.errors()[0]["msg"]
                raise ValidationError(
                    f"recipients[{index}] {agent!r} is not an agent id: {problem}",
                    errors=[{"field": f"recipients[{index}]", "problem": problem}],
                ) from None
        outgoing = [
            request.model_copy(
                update={**stamp, "recipient_id": agent, "message_id": uuid.uuid4().hex}
            )
            for agent in dict.fromkeys(recipients)
        ]
    else:
        outgoing = [request.model_copy(update=stamp)]
    queue = listener.expect(correlation)
    replies: list[Message] = []
    try:
        await publish_batch(outgoing, topic)
        deadline = asyncio.get_running_loop().time() + timeout_ms / 1000
        answered: set[tuple[str, str | None]] = set()
        while len(replies) < expected_responses:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                reply = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
            # A request delivered twice (at-least-once) may be answered twice: one
            # answer per agent and request copy counts.
            if (reply.sender_id, reply.causation_id) in answered:
                continue
            answered.add((reply.sender_id, reply.causation_id))
            replies.append(reply)
    finally:
        listener.forget(correlation)
    return replies


async def request_reply(
    message: Message,
    timeout_ms: int,
    scatter_gather: Callable[[Message, int, int], Awaitable[list[Message]]],
) -> Message:
    """See ``MessageBus.request_response``: one reply, through ``scatter_gather``."""
    if message.recipient_id is None:
        raise ValidationError(
            "a request needs a recipient_id (the agent that answers it)",
            errors=[{"field": "recipient_id", "problem": "missing"}],
        )
    replies = await scatter_gather(message, 1, timeout_ms)
    if not replies:
        raise RequestTimeoutError(
            f"no reply from {message.recipient_id} to {message.message_id} within {timeout_ms} ms",
            timeout_ms=timeout_ms,
        )
    reply = replies[0]
    if reply.message_type is MessageType.ERROR:
        raise RequestFailedError(reply)
    return reply
