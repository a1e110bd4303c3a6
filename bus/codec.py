"""Messages on the wire: JSON value, a partition key, and a few headers for tools.

The value is the message's JSON (``Message.model_dump_json``). The key keeps one
conversation's messages in order on one partition: the recipient, else the sender. Headers
repeat the id, type, priority and correlation id, and each of ``Message.headers`` as
``h.<name>`` (UTF-8), so Kafka tools, foreign consumers and dead-letter readers can see and
filter on them without parsing. The value is authoritative: decoding reads only the value, and
no record header overrides it. With tracing on, the publisher's span travels as the W3C
``traceparent`` and ``tracestate`` headers (:mod:`orchestration.core.tracing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic

from bus.message import MAX_PAYLOAD_BYTES, Message, MessageType, Priority
from orchestration.core.exceptions import DecodeError, MessageBusError
from orchestration.core.tracing import inject

__all__ = [
    "DEAD_LETTER_KEPT_BYTES",
    "HEADER_PREFIX",
    "Headers",
    "dead_letter_value",
    "decode",
    "encode",
    "error_headers",
    "present_value",
]

Headers = list[tuple[str, bytes]]

DEAD_LETTER_KEPT_BYTES = 64 * 1024
"""How much of a too-large record's value its dead letter keeps (enough to identify it)."""
HEADER_PREFIX = "h."
"""``Message.headers["tenant"]`` travels as the Kafka record header ``h.tenant`` too."""


_TYPE_HEADER = {kind: ("message_type", kind.value.encode()) for kind in MessageType}
_PRIORITY_HEADER = {p: ("priority", str(int(p)).encode()) for p in Priority}
_to_json = Message.__pydantic_serializer__.to_json


def encode(message: Message) -> tuple[bytes, bytes, Headers]:
    """``(key, value, headers)`` of ``message``.

    Raises:
        MessageBusError: the encoded message, with the copies of its headers, is larger than
            ``MAX_PAYLOAD_BYTES``.
    """
    value = _to_json(message, exclude_none=True)
    size = len(value)
    copied: Headers = []
    if message.headers:
        copied = [(HEADER_PREFIX + name, text.encode()) for name, text in message.headers.items()]
        size += sum(len(name) + len(raw) for name, raw in copied)
    if size > MAX_PAYLOAD_BYTES:
        raise MessageBusError(
            f"message {message.message_id} is {size:,} bytes encoded"
            f"{' with the copies of its headers' if copied else ''}, more than the "
            f"{MAX_PAYLOAD_BYTES:,} a Kafka record may hold: send a reference to the data instead"
        )
    key = (message.recipient_id or message.sender_id).encode()
    headers = [
        ("message_id", message.message_id.encode()),
        _TYPE_HEADER[message.message_type],
        _PRIORITY_HEADER[message.priority],
    ]
    if message.correlation_id:
        headers.append(("correlation_id", message.correlation_id.encode()))
    if copied:
        headers += copied
    inject(headers)
    return key, value, headers


def present_value(value: bytes | None, what: str) -> bytes:
    """A record's value, if it has one no larger than ``MAX_PAYLOAD_BYTES``.

    Raises:
        DecodeError: no value, or too large for ``what`` ("a message") to be.
    """
    if value is None:
        raise DecodeError("the record has no value")
    if len(value) > MAX_PAYLOAD_BYTES:
        raise DecodeError(
            f"the record is {len(value):,} bytes, more than the {MAX_PAYLOAD_BYTES:,} {what} may be"
        )
    return value


def decode(value: bytes | None) -> Message:
    """The message in a record's value.

    Raises:
        DecodeError: not JSON, or not a valid message; the text says which field.
    """
    try:
        return Message.model_validate_json(present_value(value, "a message"))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        raise DecodeError(
            f"not a valid message: {where}: {first['msg']} ({exc.error_count()} error(s))"
        ) from None


def dead_letter_value(value: bytes | None) -> tuple[bytes | None, Headers]:
    """What a dead letter carries of a record's value: all of it, or for a record too large to
    be sent again its first ``DEAD_LETTER_KEPT_BYTES`` plus a ``dlq.original_bytes`` header."""
    if value is None or len(value) <= MAX_PAYLOAD_BYTES:
        return value, []
    return value[:DEAD_LETTER_KEPT_BYTES], [("dlq.original_bytes", str(len(value)).encode())]


def error_headers(
    original: Sequence[tuple[str, bytes]] | None, *, error: str, source: str, attempts: int
) -> Headers:
    """The headers of a dead letter: the original ones plus why and where it failed."""
    headers: list[tuple[str, Any]] = [
        (k, v) for k, v in (original or ()) if not k.startswith("dlq.")
    ]
    headers += [
        ("dlq.error", error[:4000].encode()),
        ("dlq.source_topic", source.encode()),
        ("dlq.attempts", str(attempts).encode()),
    ]
    return headers
