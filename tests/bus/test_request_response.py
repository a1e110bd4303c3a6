"""Request-response across processes, and a request nobody answers."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bus.message import Message, MessageType, Priority
from bus.message_bus import MessageBus
from orchestration.core.exceptions import (
    MessageBusError,
    OrchestrationTimeoutError,
    RequestTimeoutError,
)
from tests.bus.helpers import DEADLINE_S

RESPONDER = Path(__file__).with_name("responder.py")


async def test_a_responder_in_another_process_answers_with_ids_that_tie_the_reply_back(
    bus: MessageBus, kafka_bootstrap_servers: str, unique: str, tmp_path: Path
) -> None:
    agent = f"doubler-{unique}"
    log = tmp_path / "responder.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(RESPONDER),
            kafka_bootstrap_servers,
            agent,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), DEADLINE_S * 2)
        assert line == b"ready\n", f"the responder did not start:\n{log.read_text()}"

        request = Message(
            sender_id="requester",
            recipient_id=agent,
            priority=Priority.HIGH,
            payload={"x": 21},
            trace_id="ab" * 16,
        )
        reply = await bus.request_response(request, timeout_ms=10_000)
        assert reply.message_type is MessageType.RESPONSE
        assert reply.payload == {"x": 42}
        assert reply.sender_id == agent
        assert reply.correlation_id == request.message_id  # the request had none: its id
        assert reply.causation_id == request.message_id
        assert reply.trace_id == request.trace_id
        assert reply.priority is Priority.HIGH

        # A conversation's own correlation id is kept.
        follow_up = Message(
            sender_id="requester", recipient_id=agent, payload={"x": 5}, correlation_id="conv-1"
        )
        reply = await bus.request_response(follow_up, timeout_ms=10_000)
        assert (reply.payload, reply.correlation_id) == ({"x": 10}, "conv-1")
        assert reply.causation_id == follow_up.message_id

        process.terminate()
        assert await asyncio.wait_for(process.wait(), DEADLINE_S) == 0, log.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_request_nobody_serves_times_out(bus: MessageBus, unique: str) -> None:
    request = Message(sender_id="requester", recipient_id=f"nobody-{unique}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RequestTimeoutError) as info:
        await bus.request_response(request, timeout_ms=300)
    waited = loop.time() - started
    assert 0.3 <= waited < 3
    error = info.value
    assert isinstance(error, TimeoutError)
    assert isinstance(error, OrchestrationTimeoutError)
    assert isinstance(error, MessageBusError)
    assert error.retriable
    assert error.timeout_ms == 300
    assert str(error) == (f"no reply from nobody-{unique} to {request.message_id} within 300 ms")
