"""A consumer in its own process that handles one message and then hangs before committing.

Usage: ``python tests/bus/consumer_proc.py SERVERS TOPIC GROUP DELIVERIES EFFECTS LEDGER_URL``.

It takes one message of ``TOPIC`` in consumer group ``GROUP``, appends its id to the file
``DELIVERIES``, applies its effect once per message id (:func:`apply_effect`, which appends
to ``EFFECTS``), prints ``handled <message_id>`` and then waits for its stdin to close. It
never asks for a next message, so it never commits: a test SIGKILLs it there.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from activities.ledger import ActionLedger
from bus.message import Message
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig


async def apply_effect(ledger: ActionLedger, message: Message, effects: Path) -> Any:
    """The message's side effect, at most once per message id; returns the stored result."""

    async def effect() -> dict[str, Any]:
        with effects.open("a") as file:
            file.write(f"{message.message_id} {os.getpid()}\n")
        return {"applied_by": os.getpid()}

    return await ledger.run_once(
        message.message_id, agent_id="consumer", action="record", fn=effect
    )


async def main(
    servers: str, topic: str, group: str, deliveries: str, effects: str, ledger_url: str
) -> None:
    ledger = await ActionLedger.open(ledger_url, migrate=True)
    try:
        # The shortest session, so that the group notices soon that this consumer died.
        config = KafkaConfig(bootstrap_servers=servers, session_timeout_ms=1000)
        async with (
            MessageBus(config) as bus,
            bus.subscribe([topic], group_id=group) as subscription,
        ):
            async for message in subscription:
                with open(deliveries, "a") as file:
                    file.write(message.message_id + "\n")
                await apply_effect(ledger, message, Path(effects))
                print("handled", message.message_id, flush=True)
                break
            # Hang before the next message is asked for: nothing was committed.
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    finally:
        await ledger.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
