"""Priority lanes under a backlog: CRITICAL first, LOW not starved, order kept per lane."""

from __future__ import annotations

from bus.message import Message, Priority
from bus.message_bus import MessageBus
from orchestration.core.connections import KafkaConfig
from tests.bus.helpers import take

PER_LANE = 60


async def test_a_backlog_is_served_most_urgent_first_without_starving_low(
    kafka_bootstrap_servers: str, unique: str
) -> None:
    # One partition per lane, so each lane is one ordered stream fetched in one go.
    config = KafkaConfig(bootstrap_servers=kafka_bootstrap_servers, partitions=1)
    topic = f"lanes-{unique}"
    # Interleaved, least urgent first: any urgency in the output comes from the lanes.
    backlog = [
        Message(sender_id="producer", priority=priority, payload={"seq": seq})
        for seq in range(PER_LANE)
        for priority in reversed(Priority)
    ]
    async with MessageBus(config) as bus:
        await bus.publish_batch(backlog, topic)  # all of it before the consumer joins
        async with bus.subscribe([topic], group_id=f"g-{unique}") as subscription:
            received = await take(subscription, len(backlog))

    lanes = [m.priority for m in received]
    assert sorted(m.message_id for m in received) == sorted(m.message_id for m in backlog)
    for priority in Priority:  # order within a lane is kept
        seqs = [m.payload["seq"] for m in received if m.priority is priority]
        assert seqs == list(range(PER_LANE)), priority

    def position(priority: Priority) -> float:
        return sum(i for i, p in enumerate(lanes) if p is priority) / PER_LANE

    # Predominantly CRITICAL first: it leads, fills most of the first quarter, and its
    # average position is earliest, then HIGH, NORMAL, LOW.
    assert lanes[0] is Priority.CRITICAL
    assert lanes[:PER_LANE].count(Priority.CRITICAL) >= PER_LANE // 2
    assert position(Priority.CRITICAL) < position(Priority.HIGH)
    assert position(Priority.HIGH) < position(Priority.NORMAL) < position(Priority.LOW)
    # No starvation: LOW messages get through while CRITICAL is still being drained.
    assert Priority.LOW in lanes[:15]  # within the first round of 8 + 4 + 2 + 1
    last_critical = max(i for i, p in enumerate(lanes) if p is Priority.CRITICAL)
    assert lanes[:last_critical].count(Priority.LOW) >= 3
