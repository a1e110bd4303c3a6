"""At-least-once delivery: redelivery after a crash, and duplicates that have no effect twice."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from aiokafka.structs import TopicPartition

from activities.ledger import ActionLedger
from bus.message import Message, Priority
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig
from tests.bus.consumer_proc import apply_effect
from tests.bus.helpers import DEADLINE_S, sample, take, take_until

CONSUMER = Path(__file__).with_name("consumer_proc.py")


async def test_a_message_whose_consumer_was_killed_is_redelivered_and_applied_once(
    bus: MessageBus,
    kafka_bootstrap_servers: str,
    sqlite_url: str,
    unique: str,
    tmp_path: Path,
) -> None:
    topic, group = f"alo-{unique}", f"g-{unique}"
    deliveries, effects, log = tmp_path / "deliveries", tmp_path / "effects", tmp_path / "log"
    message = Message(sender_id="producer", payload={"reading_kwh": 42})
    await bus.publish(message, topic)

    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CONSUMER),
            kafka_bootstrap_servers,
            topic,
            group,
            str(deliveries),
            str(effects),
            sqlite_url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), DEADLINE_S * 2)
        assert line == f"handled {message.message_id}\n".encode(), log.read_text()
    finally:
        if process.returncode is None:
            process.kill()  # SIGKILL: no commit, no leaving the group
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    assert deliveries.read_text().split() == [message.message_id]
    assert effects.read_text().split() == [message.message_id, str(process.pid)]

    ledger = await ActionLedger.open(sqlite_url, migrate=True)
    try:
        async with bus.subscribe([topic], group_id=group) as subscription:
            [again] = await take(subscription, 1)
            result = await apply_effect(ledger, again, effects)
            await subscription.commit()
        assert again == message  # delivered a second time, to the second consumer
        assert result == {"applied_by": process.pid}  # the stored result of the first run
        assert len(effects.read_text().splitlines()) == 1  # the effect happened once
        record = await ledger.get(message.message_id)
        assert record is not None
        assert (record.agent_id, record.action) == ("consumer", "record")
    finally:
        await ledger.close()


async def test_the_same_message_published_twice_is_delivered_once(
    bus: MessageBus, unique: str
) -> None:
    topic = f"dup-{unique}"
    message = Message(sender_id=f"s-{unique}", payload={"n": 1})
    after = Message(sender_id=f"s-{unique}", payload={"n": 2})  # same key: same partition
    await bus.publish(message, topic)
    await bus.publish(message, topic)  # e.g. a producer retrying after a timeout
    await bus.publish(after, topic)
    async with bus.subscribe([topic], group_id=f"g-{unique}") as subscription:
        received = await take_until(subscription, after.message_id)
    assert [m.message_id for m in received] == [message.message_id, after.message_id]
    assert sample("message_bus_dropped_total", topic=topic, reason="duplicate") == 1


async def test_a_message_in_hand_when_its_partition_moves_goes_to_the_new_owner(
    kafka_bootstrap_servers: str, unique: str
) -> None:
    """A consumer whose partition is revoked while it handles a message keeps consuming.

    The message goes to the partition's new owner; the first consumer must neither commit
    that partition (it no longer owns it) nor fail on trying.
    """
    topic, group = f"moved-{unique}", f"g-{unique}"

    def config(client_id: str) -> KafkaConfig:
        return KafkaConfig(
            bootstrap_servers=kafka_bootstrap_servers, partitions=1, client_id=client_id
        )

    # Member ids start with the client id and partitions go round robin in member order, so
    # the newcomer ("a...") takes the NORMAL lane (the first topic in name order) from "z...".
    first, second = MessageBus(config(f"z-first-{unique}")), MessageBus(config(f"a-{unique}"))
    try:
        await first.initialize()
        await second.initialize()
        in_hand, queued = (Message(sender_id="p", payload={"n": n}) for n in (1, 2))
        await first.publish_batch([in_hand, queued], topic)
        old_owner = first.subscribe([topic], group_id=group)
        new_owner = second.subscribe([topic], group_id=group)
        assert await take(old_owner, 1) == [in_hand]

        moved = await take(new_owner, 2)  # the join revokes the old owner's partitions
        assert moved == [in_hand, queued]  # the one in hand was not committed: delivered again
        normal_lane = TopicPartition(topic, 0)
        assert normal_lane not in old_owner._consumer.assignment()  # the test's premise

        # The old owner finishes its message and carries on with a lane it still has.
        urgent = Message(sender_id="p", priority=Priority.CRITICAL)
        await first.publish(urgent, topic)
        assert await take(old_owner, 1) == [urgent]
        await old_owner.commit()
        await new_owner.commit()
    finally:
        await first.close()
        await second.close()
