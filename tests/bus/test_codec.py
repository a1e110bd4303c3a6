"""Messages on the wire: round trip, readable decode errors, size limit, dead-letter headers."""

from __future__ import annotations

import json

import pytest

from bus.codec import decode, encode, error_headers
from bus.message import MAX_PAYLOAD_BYTES, Message, MessageType, Priority
from orchestration.core.exceptions import DecodeError, MessageBusError


def test_a_message_survives_the_round_trip() -> None:
    message = Message(
        sender_id="calc-1",
        recipient_id="report-2",
        message_type=MessageType.REQUEST,
        priority=Priority.HIGH,
        payload={"value": 1.5, "nested": {"list": [1, "two", None]}},
        correlation_id="conv-7",
        ttl_ms=60_000,
        headers={"tenant": "acme"},
        trace_id="0" * 31 + "1",
    )
    key, value, headers = encode(message)
    assert decode(value) == message
    assert key == b"report-2"  # one conversation stays on one partition
    assert dict(headers) == {
        "message_id": message.message_id.encode(),
        "message_type": b"request",
        "priority": b"1",
        "correlation_id": b"conv-7",
        "h.tenant": b"acme",  # Message.headers, for consumers that do not parse the value
    }
    assert [name for name, _ in headers][-1] == "h.tenant"  # ours first, then the copies
    assert "recipient_id" in json.loads(value)
    assert "causation_id" not in json.loads(value)  # None fields stay off the wire


def test_the_key_is_the_sender_when_there_is_no_recipient() -> None:
    key, _, headers = encode(Message(sender_id="calc-1"))
    assert key == b"calc-1"
    assert "correlation_id" not in dict(headers)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (b"not json", "not a valid message: value:"),
        (b'{"payload": {}}', "not a valid message: sender_id: Field required"),
        (b'{"sender_id": ""}', "not a valid message: sender_id:"),
        (b'{"sender_id": "a", "priority": 9}', "not a valid message: priority:"),
        (b'{"sender_id": "a", "surprise": 1}', "not a valid message: surprise:"),
        (None, "the record has no value"),
    ],
)
def test_decode_errors_name_the_field(value: bytes | None, needle: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(value)
    assert needle in str(info.value)
    assert isinstance(info.value, MessageBusError)


def test_decode_counts_every_problem() -> None:
    with pytest.raises(DecodeError, match=r"\(2 error\(s\)\)"):
        decode(b'{"sender_id": "", "ttl_ms": 0}')


def test_an_oversize_message_is_rejected_before_it_is_sent() -> None:
    def sized(blob: int) -> Message:
        return Message(sender_id="a", message_id="m1", created_at=1.0, payload={"b": "x" * blob})

    room = MAX_PAYLOAD_BYTES - len(encode(sized(0))[1])
    assert len(encode(sized(room))[1]) == MAX_PAYLOAD_BYTES  # exactly the limit is fine
    with pytest.raises(MessageBusError, match="send a reference to the data instead") as info:
        encode(sized(room + 1))
    assert "message m1 is 1,000,001 bytes" in str(info.value)


def test_the_copies_of_the_headers_count_toward_the_size_limit() -> None:
    def sized(blob: int) -> Message:
        return Message(
            sender_id="a",
            message_id="m1",
            created_at=1.0,
            payload={"b": "x" * blob},
            headers={"t": "y" * 100},
        )

    copies = len("h.t") + 100  # the header again, as a record header
    room = MAX_PAYLOAD_BYTES - len(encode(sized(0))[1]) - copies
    encode(sized(room))  # exactly the limit, the copies included, is fine
    assert len(sized(room + 1).model_dump_json(exclude_none=True)) < MAX_PAYLOAD_BYTES
    with pytest.raises(MessageBusError, match="1,000,001 bytes encoded with the copies of its"):
        encode(sized(room + 1))


def test_dead_letter_headers_keep_the_original_and_replace_old_reasons() -> None:
    original = [("message_id", b"m1"), ("dlq.error", b"an older failure")]
    headers = error_headers(original, error="boom " * 2000, source="orders.high", attempts=3)
    as_dict = dict(headers)
    assert as_dict["message_id"] == b"m1"
    assert as_dict["dlq.source_topic"] == b"orders.high"
    assert as_dict["dlq.attempts"] == b"3"
    assert as_dict["dlq.error"].startswith(b"boom")
    assert len(as_dict["dlq.error"]) == 4000  # bounded
    assert [k for k, _ in headers].count("dlq.error") == 1
    assert dict(error_headers(None, error="e", source="t", attempts=0))["dlq.error"] == b"e"
