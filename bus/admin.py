"""Creating the bus's topics: each logical topic's priority lanes and dead-letter topic, once.

Topics are created on first use with the configured partitions, replication factor and
compression; a topic that already exists is fine (another process created it first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bus.topics import check_topic, dead_letter_topic, lane_topics
from orchestration.core.connections import KafkaConfig
from orchestration.core.exceptions import MessageBusError

__all__ = ["TopicAdmin"]

_TOPIC_EXISTS = 36  # Kafka's TOPIC_ALREADY_EXISTS error code


class TopicAdmin:
    """The bus's admin client and the topics it knows exist."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self._client: AIOKafkaAdminClient | None = None
        self._known: set[str] = set()
        self._lock = asyncio.Lock()

    @property
    def known(self) -> frozenset[str]:
        """The logical topics created (or found) so far."""
        return frozenset(self._known)

    async def start(self) -> None:
        """Connect the admin client.

        Raises:
            KafkaError, OSError: the cluster cannot be reached (the bus says so).
        """
        client = AIOKafkaAdminClient(
            bootstrap_servers=list(self.config.bootstrap_servers),
            client_id=self.config.client_id,
            request_timeout_ms=self.config.request_timeout_ms,
        )
        try:
            await client.start()
        except BaseException:
            await client.close()
            raise
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def knows(self, topic: str) -> bool:
        """Whether ``topic`` was created (or found) already: no await needed for it."""
        return topic in self._known

    async def ensure(
        self,
        topics: Iterable[str],
        *,
        partitions: int | None,
        lanes: bool,
        ready: Callable[[], object],
    ) -> None:
        """See ``MessageBus.ensure_topics``; ``ready`` raises when the bus cannot send."""
        wanted = [check_topic(t) for t in topics if t not in self._known]
        if not wanted:
            return
        admin = self._client
        if admin is None:
            ready()
            raise AssertionError("unreachable")
        count = partitions or self.config.partitions
        async with self._lock:
            wanted = [t for t in wanted if t not in self._known]
            if not wanted:
                return
            names = [
                name
                for topic in wanted
                for name in ([*lane_topics(topic), dead_letter_topic(topic)] if lanes else [topic])
            ]
            config = {}
            if self.config.compression_type != "none":
                config["compression.type"] = self.config.compression_type
            try:
                response = await admin.create_topics(
                    [
                        NewTopic(name, count, self.config.replication_factor, topic_configs=config)
                        for name in names
                    ]
                )
            except (KafkaError, OSError) as exc:
                raise MessageBusError(
                    f"cannot create topics {', '.join(names)}: {exc}", retriable=True
                ) from exc
            failed = [
                f"{name} (error {code}: {text})"
                for name, code, text in response.topic_errors
                if code not in (0, _TOPIC_EXISTS)
            ]
            if failed:
                raise MessageBusError(f"the cluster refused to create {', '.join(failed)}")
            self._known.update(wanted)
