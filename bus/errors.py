"""Errors of the message bus beyond ``MessageBusError`` itself."""

from __future__ import annotations

from bus.message import Message
from orchestration.exceptions import MessageBusError, OrchestrationTimeoutError

__all__ = ["RequestFailedError", "RequestTimeoutError"]


class RequestTimeoutError(MessageBusError, OrchestrationTimeoutError):
    """No reply came within the timeout; also a ``TimeoutError`` (retriable).

    Attributes:
        timeout_ms: the timeout that passed.
    """

    retriable = True


class RequestFailedError(MessageBusError):
    """The agent answered with an ERROR reply (its handler failed on the request).

    Attributes:
        reply: the ERROR message; ``reply.payload`` holds ``error`` and ``error_type``.
    """

    def __init__(self, reply: Message) -> None:
        error = reply.payload.get("error", "unknown error")
        super().__init__(f"agent {reply.sender_id} failed the request: {error}")
        self._reply = reply

    @property
    def reply(self) -> Message:
        return self._reply
