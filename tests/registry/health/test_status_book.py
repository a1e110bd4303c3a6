from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from registry.health.policy import HealthAssessment
from registry.health.status_book import StatusBook
from registry.models import AgentStatus


def _series() -> dict[str, float]:
    return {
        sample.labels["agent_id"]: sample.value
        for metric in REGISTRY.collect()
        if metric.name == "registry_agent_health"
        for sample in metric.samples
        if sample.labels["agent_id"].startswith("book-")
    }


def _assess(health: dict[str, float]) -> dict[str, HealthAssessment]:
    return {a: HealthAssessment(h, AgentStatus.ACTIVE, 0.0) for a, h in health.items()}


@pytest.fixture
def book() -> Iterator[StatusBook]:
    book = StatusBook(max_health_series=3)
    yield book
    for agent_id in _series():
        book.forget(agent_id)


def test_every_agent_has_a_health_series_up_to_the_limit(book: StatusBook) -> None:
    book.publish(_assess({"book-a": 0.9, "book-b": 0.5}))
    assert _series() == {"book-a": 0.9, "book-b": 0.5}


def test_past_the_limit_the_least_healthy_are_published_and_the_rest_removed(
    book: StatusBook, caplog: pytest.LogCaptureFixture
) -> None:
    book.publish(_assess({"book-a": 0.9, "book-b": 0.5, "book-c": 0.7}))
    with caplog.at_level(logging.WARNING, logger="registry.health.status_book"):
        book.publish(
            _assess({"book-a": 0.9, "book-b": 0.5, "book-c": 0.7, "book-d": 0.1, "book-e": 0.7})
        )
    assert _series() == {"book-d": 0.1, "book-b": 0.5, "book-c": 0.7}  # ties by agent id
    assert "publishing the 3 least healthy" in caplog.text
    book.publish(_assess({"book-a": 0.2}))
    assert _series() == {"book-a": 0.2}


def test_statuses_are_counted_for_every_agent_past_the_limit(book: StatusBook) -> None:
    counts = book.publish(_assess({f"book-{n}": 1.0 for n in range(10)}))
    assert counts[AgentStatus.ACTIVE] == 10
    assert len(_series()) == 3
