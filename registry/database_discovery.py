"""Discovery answered from the database: the reference the snapshot's answers must equal.

The candidates' summaries are read with the capability filter in SQL, ranked by
:func:`registry.discovery.select_agents`, then only the winners' full rows are read.
"""

from __future__ import annotations

from datetime import datetime

from registry.discovery import DiscoveryQuery, select_agents
from registry.health.policy import HealthPolicy
from registry.records import PendingSamples, RegisteredAgent
from registry.store.agents import AgentStore
from registry.views import candidate_of, registered_agent

__all__ = ["discover_in_database"]


async def discover_in_database(
    store: AgentStore,
    pending: PendingSamples,
    query: DiscoveryQuery,
    now: datetime,
    policy: HealthPolicy,
) -> list[RegisteredAgent]:
    """The agents ``query`` finds, best first, read from ``store`` (heartbeats not yet
    written are looked up in ``pending``)."""
    summaries = await store.summaries(
        query.capabilities,
        query.service_types,
        query.tags,
        with_tags=query.location_preference is not None,
    )
    candidates = (candidate_of(s, pending.get(s.agent_id), now, policy) for s in summaries)
    chosen = select_agents(candidates, query)
    # Only the winners' full rows are read (and their descriptors decoded).
    rows = await store.get_many(c.agent_id for c in chosen)
    return [
        registered_agent(rows[c.agent_id], pending.get(c.agent_id), now, policy)
        for c in chosen
        if c.agent_id in rows
    ]
