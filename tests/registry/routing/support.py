"""Builders and Hypothesis strategies shared by the routing tests."""

from __future__ import annotations

from hypothesis import strategies as st

from registry.routing import Candidate, LoadInfo, Priority, RouteRequest


def agents(n: int, *, prefix: str = "agent") -> list[Candidate]:
    """``n`` healthy candidates without load reports: ``agent-0`` ... ``agent-{n-1}``."""
    return [Candidate(agent_id=f"{prefix}-{i}", health=1.0) for i in range(n)]


def loaded(
    agent_id: str,
    *,
    queue: int = 0,
    capacity: int = 100,
    processing_time_ms: float = 0.0,
    error_rate: float = 0.0,
    health: float = 1.0,
    weight: float = 1.0,
    ejected: bool = False,
) -> Candidate:
    """A candidate with a load report."""
    load = LoadInfo(
        agent_id=agent_id,
        message_queue_size=queue,
        processing_time_ms=processing_time_ms,
        error_rate=error_rate,
        capacity=capacity,
    )
    return Candidate(agent_id=agent_id, health=health, load=load, weight=weight, ejected=ejected)


def request(
    rule: str = "rule", *, key: str | None = None, priority: int = Priority.NORMAL
) -> RouteRequest:
    return RouteRequest(rule=rule, key=key, priority=priority)


load_infos = st.builds(
    LoadInfo,
    agent_id=st.just("x"),
    message_queue_size=st.integers(0, 500),
    processing_time_ms=st.floats(0, 5000),
    error_rate=st.floats(0, 1),
    capacity=st.integers(1, 300),
)


@st.composite
def candidate_lists(draw: st.DrawFn, *, min_size: int = 1, max_size: int = 12) -> list[Candidate]:
    """Candidates with unique ids and arbitrary health, load (or none), weight and ejection."""
    ids = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9\-]{0,11}", fullmatch=True),
            min_size=min_size,
            max_size=max_size,
            unique=True,
        )
    )
    result = []
    for agent_id in ids:
        load = draw(st.none() | load_infos)
        result.append(
            Candidate(
                agent_id=agent_id,
                health=draw(st.floats(0, 1)),
                load=None if load is None else load.model_copy(update={"agent_id": agent_id}),
                weight=draw(st.floats(0, 10)),
                ejected=draw(st.booleans()),
            )
        )
    return result
