"""Topic names: one logical topic is four Kafka topics, a lane per priority, plus dead letters.

A logical topic ``T`` maps onto ``T.critical``, ``T.high``, ``T`` (NORMAL) and ``T.low``, so a
plain Kafka producer writing to ``T`` lands in the NORMAL lane. Messages a consumer gives up
on go to ``T.dlq``. An agent's inbox is the logical topic ``agent.<agent_id>``; each bus
instance reads replies on its own ``replies.<instance>`` topic (one partition, one lane).
"""

from __future__ import annotations

import re

from bus.message import Priority
from orchestration.core.exceptions import ValidationError

__all__ = [
    "DLQ_SUFFIX",
    "MAX_TOPIC_LENGTH",
    "check_topic",
    "dead_letter_topic",
    "inbox_topic",
    "lane_topic",
    "lane_topics",
    "logical_topic",
    "metric_label",
    "priority_of_lane",
    "reply_topic",
]

MAX_TOPIC_LENGTH = 200
"""Kafka allows 249 characters; the lane and dead-letter suffixes need the rest."""
DLQ_SUFFIX = ".dlq"
_LANE_SUFFIX = {
    Priority.CRITICAL: ".critical",
    Priority.HIGH: ".high",
    Priority.NORMAL: "",
    Priority.LOW: ".low",
}
_TOPIC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
_INBOX_PREFIX = "agent."
_REPLY_PREFIX = "replies."


def check_topic(topic: str, field: str = "topic") -> str:
    """``topic`` if it is a usable logical topic name, else a ValidationError naming ``field``."""
    problem = None
    if not isinstance(topic, str) or not topic:
        problem = "must be a non-empty string"
    elif len(topic) > MAX_TOPIC_LENGTH:
        problem = f"must be at most {MAX_TOPIC_LENGTH} characters (got {len(topic)})"
    elif not _TOPIC.match(topic):
        problem = "may hold only letters, digits and . _ - (starting with a letter or digit)"
    elif topic.endswith(DLQ_SUFFIX) or any(
        suffix and topic.endswith(suffix) for suffix in _LANE_SUFFIX.values()
    ):
        problem = "must not end in .dlq, .critical, .high or .low (those are its lanes)"
    if problem:
        raise ValidationError(
            f"{field} {topic!r} {problem}", errors=[{"field": field, "problem": problem}]
        )
    return topic


def lane_topic(topic: str, priority: Priority) -> str:
    """The Kafka topic of ``topic``'s lane for ``priority``."""
    return topic + _LANE_SUFFIX[priority]


def lane_topics(topic: str) -> list[str]:
    """Every lane of ``topic``, most urgent first."""
    return [topic + _LANE_SUFFIX[p] for p in Priority]


def dead_letter_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def priority_of_lane(kafka_topic: str) -> Priority:
    """The priority whose lane ``kafka_topic`` is (NORMAL for a topic without a lane suffix)."""
    for priority, suffix in _LANE_SUFFIX.items():
        if suffix and kafka_topic.endswith(suffix):
            return priority
    return Priority.NORMAL


def logical_topic(kafka_topic: str) -> str:
    """The logical topic a lane topic belongs to."""
    for suffix in _LANE_SUFFIX.values():
        if suffix and kafka_topic.endswith(suffix):
            return kafka_topic[: -len(suffix)]
    return kafka_topic


def inbox_topic(agent_id: str) -> str:
    """The logical topic of ``agent_id``'s inbox: requests addressed to it."""
    return _INBOX_PREFIX + agent_id


def reply_topic(instance_id: str) -> str:
    """The one topic a bus instance receives replies on."""
    return _REPLY_PREFIX + instance_id


def metric_label(topic: str) -> str:
    """A bounded metric label for ``topic``: agent inboxes and reply topics are one label each."""
    if topic.startswith(_INBOX_PREFIX):
        return "agent_inbox"
    if topic.startswith(_REPLY_PREFIX):
        return "replies"
    return topic
