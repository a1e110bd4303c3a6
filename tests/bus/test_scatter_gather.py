"""Scatter-gather over the bus: replies that came, agents that failed or stayed silent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from bus.message import Message, MessageType
from bus.message_bus import MessageBus
from orchestration.core.exceptions import ValidationError
from registry.routing.aggregation import AggregationStrategy
from registry.routing.router import MessageRouter
from registry.routing.scatter_gather import ScatterGather, ScatterGatherError
from tests.bus.helpers import label_values, sample

TIMEOUT_MS = 800
"""How long a scatter waits; the slow agent needs longer, the fast ones a few ms."""


@dataclass(frozen=True)
class Agents:
    fast: list[str]
    failing: str
    slow: str
    silent: str

    @property
    def all(self) -> list[str]:
        return [*self.fast, self.failing, self.slow, self.silent]


REPLIES: list[dict[str, Any]] = [
    {"value": 1, "label": "warm", "detail": {"a": 1}},
    {"value": 2.5, "label": "warm", "detail": {"b": 2}},
    {"value": 5.5, "label": "cold", "detail": {"c": {"deep": True}}},
]


@pytest_asyncio.fixture(scope="module")
async def agents(bus: MessageBus) -> AsyncIterator[Agents]:
    """Three fast agents, one that always fails, one that is too slow, one never served."""
    suffix = uuid.uuid4().hex[:8]
    found = Agents(
        fast=[f"fast{i}-{suffix}" for i in range(3)],
        failing=f"failing-{suffix}",
        slow=f"slow-{suffix}",
        silent=f"silent-{suffix}",
    )

    def answer(payload: dict[str, Any]) -> Any:
        return lambda request: payload

    def fail(request: Message) -> None:
        raise ValueError("no data for this region")

    async def dawdle(request: Message) -> dict[str, Any]:
        await asyncio.Event().wait()  # past every timeout: until the server stops
        return {"value": 1000}

    servers = await asyncio.gather(
        *(bus.serve(agent, answer(p)) for agent, p in zip(found.fast, REPLIES, strict=True)),
        bus.serve(found.failing, fail, max_attempts=1),
        bus.serve(found.slow, dawdle),
    )
    try:
        yield found
    finally:
        for server in servers:
            await server.stop()


def request() -> Message:
    return Message(sender_id="coordinator", payload={"region": "EU"})


async def test_scatter_gather_returns_only_the_replies_that_came(
    bus: MessageBus, agents: Agents
) -> None:
    sent = request()
    replies = await bus.scatter_gather(sent, len(agents.all), TIMEOUT_MS, recipients=agents.all)
    assert None not in replies
    assert sorted(r.sender_id for r in replies) == sorted([*agents.fast, agents.failing])
    assert all(r.correlation_id == sent.message_id for r in replies)
    by_sender = {r.sender_id: r for r in replies}
    for agent, payload in zip(agents.fast, REPLIES, strict=True):
        assert by_sender[agent].message_type is MessageType.RESPONSE
        assert by_sender[agent].payload == payload
    assert by_sender[agents.failing].message_type is MessageType.ERROR
    # Each agent got its own copy: the replies are caused by different messages.
    assert len({r.causation_id for r in replies}) == len(replies)


async def test_scatter_gather_stops_waiting_once_enough_replies_came(
    bus: MessageBus, agents: Agents
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    replies = await bus.scatter_gather(request(), 1, 10_000, recipients=agents.fast)
    assert len(replies) == 1
    assert replies[0].sender_id in agents.fast
    assert loop.time() - started < 5


async def test_average_of_the_replies_that_came_reports_who_failed_and_who_was_silent(
    bus: MessageBus, agents: Agents
) -> None:
    scatter = ScatterGather(MessageRouter(bus))
    result = await scatter.execute(
        request(),
        target_agents=agents.all,
        aggregation_strategy=AggregationStrategy.AVERAGE,
        min_responses=3,
        timeout_ms=TIMEOUT_MS,
    )
    assert result.value == pytest.approx((1 + 2.5 + 5.5) / 3)
    assert (result.responses, result.used, result.skipped) == (3, 3, {})
    assert set(result.by_agent) == set(agents.fast)
    assert result.failed == {agents.failing: "ValueError: no data for this region"}
    assert result.silent == [agents.slow, agents.silent]  # in target order
    assert TIMEOUT_MS <= result.duration_ms < TIMEOUT_MS + 2000


async def test_majority_vote_and_merge_over_the_bus(bus: MessageBus, agents: Agents) -> None:
    scatter = ScatterGather(MessageRouter(bus))
    vote, merged = await asyncio.gather(
        scatter.execute(
            request(),
            target_agents=agents.fast,
            aggregation_strategy="majority_vote",
            timeout_ms=TIMEOUT_MS,
            field="label",
        ),
        scatter.execute(
            request(),
            target_agents=agents.fast,
            aggregation_strategy=AggregationStrategy.MERGE,
            min_responses=3,
            timeout_ms=TIMEOUT_MS,
        ),
    )
    assert vote.value == "warm"
    assert vote.votes == {'"warm"': 2, '"cold"': 1}
    assert vote.silent == []
    # Which "value" and "label" win depends on arrival order; the nested dicts merge.
    assert merged.value["detail"] == {"a": 1, "b": 2, "c": {"deep": True}}
    assert merged.value["value"] in (1, 2.5, 5.5)
    assert merged.responses == 3


async def test_too_few_replies_is_an_error_saying_how_many_came(
    bus: MessageBus, agents: Agents
) -> None:
    scatter = ScatterGather(MessageRouter(bus))
    with pytest.raises(ScatterGatherError) as info:
        await scatter.execute(
            request(),
            target_agents=agents.all,
            aggregation_strategy=AggregationStrategy.AVERAGE,
            min_responses=4,
            timeout_ms=TIMEOUT_MS,
        )
    text = str(info.value)
    assert "got 3 of 6 responses, fewer than min_responses=4" in text
    assert f"failed: {agents.failing}" in text
    assert f"silent: {agents.slow}, {agents.silent}" in text
    result = info.value.result
    assert (result.value, result.responses) == (None, 3)
    assert set(result.by_agent) == set(agents.fast)


async def test_agent_traffic_is_counted_under_bounded_labels(
    bus: MessageBus, agents: Agents
) -> None:
    def counts() -> tuple[float, float, float, float]:
        return (
            sample("message_bus_sent_total", topic="agent_inbox", type="request"),
            sample("message_bus_received_total", topic="agent_inbox", type="request"),
            sample("message_bus_sent_total", topic="replies", type="response"),
            sample("message_bus_received_total", topic="agent_inbox", type="event"),
        )

    before = counts()
    reply = await bus.request_response(
        Message(sender_id="coordinator", recipient_id=agents.fast[0]), timeout_ms=10_000
    )
    assert reply.payload == REPLIES[0]
    # One request sent to an inbox and received from it, one response sent back.
    assert [b - a for a, b in zip(before, counts(), strict=True)] == [1, 1, 1, 0]
    for name in ("message_bus_sent_total", "message_bus_received_total"):
        topics = label_values(name, "topic")
        assert "agent_inbox" in topics
        assert not [t for t in topics if t.startswith(("agent.", "replies."))], topics


async def test_bad_targets_are_refused_before_anything_is_sent(bus: MessageBus) -> None:
    with pytest.raises(ValidationError, match=r"recipients\[1\] '-bad' is not an agent id") as info:
        await bus.scatter_gather(request(), 1, 100, recipients=["fine-agent", "-bad"])
    assert info.value.errors[0]["field"] == "recipients[1]"
    scatter = ScatterGather(MessageRouter(bus))
    with pytest.raises(ValidationError, match=r"recipients\[0\] '' is not an agent id"):
        await scatter.execute(request(), target_agents=[""])
    with pytest.raises(ValidationError, match="target_agents is empty"):
        await scatter.execute(request(), target_agents=[])
    with pytest.raises(ValidationError, match="min_responses must be between 1 and the 2"):
        await scatter.execute(request(), target_agents=["a", "b"], min_responses=3)


async def test_an_agent_answering_one_request_twice_counts_once(bus: MessageBus) -> None:
    # A request delivered twice (at-least-once) can be answered twice; the scatter must not
    # count the second answer as another agent's.
    agent = f"twice-{uuid.uuid4().hex[:8]}"

    async def answer_twice(request: Message) -> None:
        for value in (1, 2):
            reply = Message(
                sender_id=agent,
                message_type=MessageType.RESPONSE,
                payload={"value": value},
                correlation_id=request.correlation_id,
                causation_id=request.message_id,
            )
            assert request.reply_to is not None
            await bus.send_reply(reply, request.reply_to)

    server = await bus.serve(agent, answer_twice)
    try:
        replies = await bus.scatter_gather(
            Message(sender_id="client", payload={}), 2, TIMEOUT_MS, recipients=[agent]
        )
    finally:
        await server.stop()
    assert [r.payload["value"] for r in replies] == [1]
