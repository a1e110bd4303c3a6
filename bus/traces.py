"""What a trace says of a Kafka record: where it was read, and the producer's span it continues."""

from __future__ import annotations

from typing import Any

from aiokafka.structs import ConsumerRecord

from bus.topics import logical_topic

__all__ = ["record_attributes"]


def record_attributes(record: ConsumerRecord[bytes, bytes], **more: Any) -> dict[str, Any]:
    """OpenTelemetry's messaging attributes of ``record`` (topic, partition, offset), plus
    ``more``."""
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": logical_topic(record.topic),
        "messaging.kafka.topic": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        **more,
    }
