"""Meter readings onto a topic, from a bed host: ``python tests/hosts/publish_readings.py
BOOTSTRAP TOPIC FACILITIES FIRST LAST`` publishes readings ``FIRST..LAST`` (inclusive) of each
facility ``f0..f<FACILITIES-1>`` (``kwh`` = the reading's number), prints ``published N``."""

from __future__ import annotations

import asyncio
import sys

from bus.message import Message
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig


async def main(bootstrap: str, topic: str, facilities: int, first: int, last: int) -> None:
    readings = [
        Message(
            sender_id=f"meter-f{n}",  # the key: facilities spread over partitions
            message_id=f"reading-f{n}-{k}",
            payload={"facility_id": f"f{n}", "kwh": float(k), "factor_kg_per_kwh": 0.25},
        )
        for k in range(first, last + 1)
        for n in range(facilities)
    ]
    # The bed's broker is Tansu, whose memory storage refuses idempotent producers.
    async with MessageBus(KafkaConfig(bootstrap_servers=[bootstrap], idempotent=False)) as bus:
        await bus.publish_batch(readings, topic)
    print(f"published {len(readings)}", flush=True)


if __name__ == "__main__":
    bootstrap_arg, topic_arg, *numbers = sys.argv[1:6]
    asyncio.run(main(bootstrap_arg, topic_arg, *(int(n) for n in numbers)))
