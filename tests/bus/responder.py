"""An agent in its own process: serves ``agent_id`` by doubling ``payload["x"]``.

Usage: ``python tests/bus/responder.py BOOTSTRAP_SERVERS AGENT_ID``. Prints ``ready`` once it
is consuming its inbox and runs until SIGTERM (or SIGINT), then closes the bus and exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from bus.message import Message
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig


def double(request: Message) -> dict[str, Any]:
    return {"x": request.payload["x"] * 2}


async def main(bootstrap_servers: str, agent_id: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with MessageBus(KafkaConfig(bootstrap_servers=bootstrap_servers)) as bus:
        await bus.serve(agent_id, double)
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
