"""Topic names: lanes, dead letters, inboxes, and the metric label of each."""

from __future__ import annotations

import pytest

from bus.message import Priority
from bus.topics import (
    MAX_TOPIC_LENGTH,
    check_topic,
    dead_letter_topic,
    inbox_topic,
    lane_topic,
    lane_topics,
    logical_topic,
    metric_label,
    priority_of_lane,
    reply_topic,
)
from orchestration.core.exceptions import ValidationError


def test_lane_and_dead_letter_names() -> None:
    assert lane_topics("orders") == ["orders.critical", "orders.high", "orders", "orders.low"]
    assert lane_topic("orders", Priority.NORMAL) == "orders"
    assert lane_topic("orders", Priority.CRITICAL) == "orders.critical"
    assert dead_letter_topic("orders") == "orders.dlq"
    assert inbox_topic("agent-1") == "agent.agent-1"
    assert reply_topic("abc") == "replies.abc"


@pytest.mark.parametrize("topic", ["orders", "agent.carbon-calc", "a.b_c-d.9"])
@pytest.mark.parametrize("priority", list(Priority))
def test_lane_names_round_trip(topic: str, priority: Priority) -> None:
    lane = lane_topic(topic, priority)
    assert logical_topic(lane) == topic
    assert priority_of_lane(lane) is priority


def test_a_plain_kafka_topic_is_the_normal_lane() -> None:
    assert priority_of_lane("someone-elses-topic") is Priority.NORMAL
    assert logical_topic("someone-elses-topic") == "someone-elses-topic"


def test_metric_labels_are_bounded() -> None:
    assert metric_label("agent.a1") == metric_label("agent.b2") == "agent_inbox"
    assert metric_label("replies.0123") == "replies"
    assert metric_label("orders") == "orders"


@pytest.mark.parametrize(
    ("topic", "problem"),
    [
        ("", "non-empty"),
        ("x" * (MAX_TOPIC_LENGTH + 1), f"at most {MAX_TOPIC_LENGTH}"),
        ("has space", "only letters"),
        (".leading-dot", "only letters"),
        ("orders.dlq", "must not end in"),
        ("orders.critical", "must not end in"),
        ("orders.high", "must not end in"),
        ("orders.low", "must not end in"),
    ],
)
def test_check_topic_errors_name_the_field(topic: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as info:
        check_topic(topic, "agent_id")
    assert str(info.value).startswith("agent_id ")
    assert info.value.errors[0]["field"] == "agent_id"
    assert problem in info.value.errors[0]["problem"]


def test_check_topic_returns_a_good_name_and_defaults_the_field() -> None:
    assert check_topic("orders") == "orders"
    with pytest.raises(ValidationError) as info:
        check_topic("bad name")
    assert [e["field"] for e in info.value.errors] == ["topic"]
