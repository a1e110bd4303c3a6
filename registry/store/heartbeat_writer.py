"""Write a batch of coalesced heartbeats in one statement, and learn which agents exist.

Postgres: one ``UPDATE ... FROM unnest(<arrays>) ... RETURNING agent_id`` — a single
statement with a fixed text whatever the batch size (asyncpg reports no row counts for
``executemany``, so RETURNING is how unknown agents are found).

SQLite: one ``executemany`` UPDATE; its row count is exact, so a follow-up SELECT runs only
when some agent in the batch was not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlalchemy import DateTime, Float, Integer, String, Table, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from registry.records import HeartbeatSample
from registry.store.agent_rows import utc
from registry.store.tables import AgentEntry

__all__ = ["write_heartbeats"]

AGENTS = cast(Table, AgentEntry.__table__)
# Ids per SELECT ... IN (...): well under SQLite's bound-parameter limit.
_CHUNK = 500

_POSTGRES = text(
    """
    UPDATE agents AS a
    SET last_heartbeat_at = v.at,
        cpu_usage = v.cpu_usage,
        error_rate = v.error_rate,
        response_time_ms = v.response_time_ms,
        heartbeat_count = a.heartbeat_count + v.n
    FROM unnest(
        CAST(:agent_ids AS VARCHAR[]),
        CAST(:ats AS TIMESTAMPTZ[]),
        CAST(:cpu_usages AS FLOAT8[]),
        CAST(:error_rates AS FLOAT8[]),
        CAST(:response_times AS FLOAT8[]),
        CAST(:counts AS INTEGER[])
    ) AS v(agent_id, at, cpu_usage, error_rate, response_time_ms, n)
    WHERE a.agent_id = v.agent_id
    RETURNING a.agent_id
    """
).bindparams(
    bindparam("agent_ids", type_=ARRAY(String)),
    bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
    bindparam("cpu_usages", type_=ARRAY(Float)),
    bindparam("error_rates", type_=ARRAY(Float)),
    bindparam("response_times", type_=ARRAY(Float)),
    bindparam("counts", type_=ARRAY(Integer)),
)

_EXECUTEMANY = (
    update(AGENTS)
    .where(AGENTS.c.agent_id == bindparam("b_agent_id"))
    .values(
        last_heartbeat_at=bindparam("b_at"),
        cpu_usage=bindparam("b_cpu_usage"),
        error_rate=bindparam("b_error_rate"),
        response_time_ms=bindparam("b_response_time_ms"),
        heartbeat_count=AGENTS.c.heartbeat_count + bindparam("b_count", type_=Integer),
    )
)


async def write_heartbeats(
    connection: AsyncConnection, samples: Mapping[str, HeartbeatSample]
) -> set[str]:
    """Apply ``samples`` (one per agent) and return the ids of the agents that were updated."""
    if not samples:
        return set()
    if connection.dialect.name == "postgresql":
        return await _write_postgres(connection, samples)
    return await _write_executemany(connection, samples)


async def _write_postgres(
    connection: AsyncConnection, samples: Mapping[str, HeartbeatSample]
) -> set[str]:
    ids = list(samples)
    params = {
        "agent_ids": ids,
        "ats": [utc(samples[i].at) for i in ids],
        "cpu_usages": [samples[i].metrics.cpu_usage for i in ids],
        "error_rates": [samples[i].metrics.error_rate for i in ids],
        "response_times": [samples[i].metrics.response_time_ms for i in ids],
        "counts": [samples[i].count for i in ids],
    }
    return set((await connection.execute(_POSTGRES, params)).scalars())


async def _write_executemany(
    connection: AsyncConnection, samples: Mapping[str, HeartbeatSample]
) -> set[str]:
    params = [
        {
            "b_agent_id": agent_id,
            "b_at": utc(sample.at),
            "b_cpu_usage": sample.metrics.cpu_usage,
            "b_error_rate": sample.metrics.error_rate,
            "b_response_time_ms": sample.metrics.response_time_ms,
            "b_count": sample.count,
        }
        for agent_id, sample in samples.items()
    ]
    result = await connection.execute(_EXECUTEMANY, params)
    if connection.dialect.supports_sane_multi_rowcount and result.rowcount == len(params):
        return set(samples)
    ids = list(samples)
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await connection.execute(
            select(AGENTS.c.agent_id).where(AGENTS.c.agent_id.in_(chunk))
        )
        found.update(rows.scalars())
    return found
