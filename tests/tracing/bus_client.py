"""A traced process on the bus, for the tracing tests (tracing from the ``OTEL_*`` settings).

Usage:
    python tests/tracing/bus_client.py publish BOOTSTRAP TOPIC PAYLOAD_JSON
    python tests/tracing/bus_client.py request BOOTSTRAP AGENT_ID

Each runs in a span of its own (``traced publish``, ``traced request``), prints that span's
trace id on the first line (and the reply's payload as JSON on the second for ``request``),
and exports its spans before it exits.
"""

from __future__ import annotations

import asyncio
import json
import sys

from opentelemetry import trace

from bus.message import Message
from bus.message_bus import MessageBus
from orchestration.core import tracing
from orchestration.core.connections import KafkaConfig


async def main(mode: str, bootstrap: str, target: str, payload: str = "{}") -> None:
    tracing.setup("bus-client")
    tracer = trace.get_tracer(__name__)
    async with MessageBus(KafkaConfig(bootstrap_servers=[bootstrap])) as bus:
        with tracer.start_as_current_span(f"traced {mode}") as current:
            print(f"{current.get_span_context().trace_id:032x}", flush=True)
            if mode == "publish":
                await bus.publish(Message(sender_id="meter", payload=json.loads(payload)), target)
            else:
                request = Message(sender_id="requester", recipient_id=target, payload={"x": 21})
                reply = await bus.request_response(request, timeout_ms=20_000)
                print(json.dumps(reply.payload), flush=True)
    tracing.flush()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
