"""Embedded registry benchmark: the in-process ``AgentRegistry`` on SQLite and on Postgres.

Run: ``.venv/bin/python bench/embedded_registry.py [--agents 10000] [--repeats 3]
[--queries 400] [--heartbeats 100000] [--tasks 8] [--backend sqlite|postgres|both] [--json]``.

What a new user gets with ``AgentRegistry(None)`` and no ``ORCH_REGISTRY_URL``: the registry
in this process, on the database at ``ORCH_DATABASE_URL`` (SQLite by default). The fleet,
its readings and the 20 discovery queries are ``bench/registry.py``'s. Per backend, a fresh
database (a temporary SQLite file; a fresh Postgres database on ``--server-url``, dropped at
the end), migrated, with a fleet of N agents registered (not measured); then per repeat
(the baselines in the same repeat, alternating which goes first):

- ``register_gather``: N new agents registered with ``asyncio.gather`` of ``register``
  calls, 1,000 at a time (concurrent calls share one transaction in the registry).
  Baseline: the store's ``upsert_many`` called here, 1,000 agents per transaction (what the
  registry's batching calls, without the registry). Each set of new agents is deleted again
  after it is measured, so the fleet stays at N.
- ``register_many``: N new agents with one ``register_many`` call; same baseline.
- ``discovery_p50`` (after the heartbeats): Q sequential ``discover`` calls over the query
  mix, on the N agents; each repeat's p50 is a sample. Baseline: the raw SQL candidates query of
  each query (``bench/registry.py``'s), executed and fetched, its p50.
- ``heartbeats``: M heartbeats (each agent its steady reading, cycling through the fleet)
  from T tasks each calling ``heartbeat`` in a loop, clocked until the registry has written
  them all (``flush`` after the last). Baseline: the same M rows written directly, one
  batched ``UPDATE`` per 1,000, one transaction each.

The registry runs its background tasks (flusher, health checker, snapshot sync) as it does
for a user. Targets: issue 21's (10,000 agents registered within 10 s, discovery p50 <= 5
ms, >= 20,000 heartbeats per second).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import contextlib
import itertools
import logging
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bench.registry import (
    AGENTS,
    DEFAULT_SERVER_URL,
    PREFIX,
    discovery_ms,
    fleet,
    query_mix,
    reading,
    spread,
    sql_candidates_ms,
)
from bench.report import AT_LEAST, AT_MOST, Row, Target, exit_status, print_report
from orchestration.testing.database import temporary_postgres_database
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor
from registry.records import HeartbeatMetrics, HeartbeatSample
from registry.store.agent_rows import descriptor_values
from registry.store.agents import AgentStore
from registry.store.engine import create_engine
from registry.store.heartbeat_writer import write_heartbeats
from registry.store.migrations import upgrade

log = logging.getLogger("bench.embedded_registry")

Measurement = Callable[[], Awaitable[tuple[float, str]]]


@contextlib.asynccontextmanager
async def database(backend: str, server_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database on ``backend``, removed at the end."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-embedded-") as workdir:
            url = f"sqlite+aiosqlite:///{workdir}/registry.db"
            await upgrade(url)
            yield url
        return
    async with temporary_postgres_database(server_url, prefix="orch_bench") as url:
        await upgrade(url)
        yield url


class Embedded:
    """The measurements on one backend; each returns (value, log note)."""

    def __init__(
        self, registry: LocalAgentRegistry, store: AgentStore, args: argparse.Namespace
    ) -> None:
        self.registry = registry
        self.store = store
        self.args = args
        self.rng = random.Random(args.seed)
        self.mix = query_mix(random.Random(args.seed))
        self.readings: dict[str, dict[str, float]] = {}
        self.fleets = itertools.count()

    def newcomers(self) -> list[AgentDescriptor]:
        """N agents never registered before."""
        prefix = f"{PREFIX}f{next(self.fleets)}-"
        return [
            a.model_copy(update={"agent_id": prefix + a.agent_id[len(PREFIX) :]})
            for a in fleet(self.args.agents, self.rng)
        ]

    async def register_fleet(self) -> None:
        """The N agents discovery and heartbeats run on (not measured)."""
        agents = self.newcomers()
        await self.registry.register_many(agents)
        self.readings = {a.agent_id: reading(self.rng) for a in agents}

    async def forget(self, agents: list[AgentDescriptor]) -> None:
        """Delete measured newcomers' rows; the registry drops them at its next sync (now)."""
        prefix = agents[0].agent_id.rsplit("-", 1)[0] + "-"
        async with self.store.engine.begin() as connection:
            await connection.execute(AGENTS.delete().where(AGENTS.c.agent_id.like(f"{prefix}%")))
        await self.registry.refresh()

    async def register_gather(self) -> tuple[float, str]:
        agents = self.newcomers()
        start = time.perf_counter()
        for at in range(0, len(agents), 1000):
            await asyncio.gather(*(self.registry.register(a) for a in agents[at : at + 1000]))
        elapsed = time.perf_counter() - start
        await self.forget(agents)
        return len(agents) / elapsed, f"{len(agents)} agents in {elapsed:.2f} s"

    async def register_many(self) -> tuple[float, str]:
        agents = self.newcomers()
        start = time.perf_counter()
        registered = await self.registry.register_many(agents)
        elapsed = time.perf_counter() - start
        assert len(registered) == len(agents)
        await self.forget(agents)
        return len(agents) / elapsed, f"{len(agents)} agents in {elapsed:.2f} s"

    async def direct_registration(self) -> tuple[float, str]:
        agents = self.newcomers()
        start = time.perf_counter()
        for at in range(0, len(agents), 1000):
            values = [descriptor_values(a) for a in agents[at : at + 1000]]
            await self.store.upsert_many(values, datetime.now(UTC))
        elapsed = time.perf_counter() - start
        await self.forget(agents)
        return len(agents) / elapsed, f"{len(agents)} agents in {elapsed:.2f} s"

    def workload(self) -> list[dict[str, Any]]:
        return [self.mix[i % len(self.mix)] for i in range(self.args.queries)]

    async def discovery_p50(self) -> tuple[float, str]:
        latencies = await discovery_ms(self.registry.discover, self.workload())
        return statistics.median(latencies), spread(latencies)

    async def sql_p50(self) -> tuple[float, str]:
        latencies = await sql_candidates_ms(self.store.engine, self.workload())
        return statistics.median(latencies), spread(latencies)

    def beats(self) -> list[tuple[str, dict[str, float]]]:
        cycle = itertools.cycle(self.readings.items())
        return list(itertools.islice(cycle, self.args.heartbeats))

    async def heartbeats(self) -> tuple[float, str]:
        beats = iter(self.beats())

        async def task() -> None:
            for agent_id, metrics in beats:
                await self.registry.heartbeat(agent_id, metrics)

        start = time.perf_counter()
        await asyncio.gather(*(task() for _ in range(self.args.tasks)))
        await self.registry.flush()
        elapsed = time.perf_counter() - start
        total = self.args.heartbeats
        return total / elapsed, f"{total} accepted and written in {elapsed:.2f} s"

    async def direct_heartbeats(self) -> tuple[float, str]:
        beats = self.beats()
        now = datetime.now(UTC)
        start = time.perf_counter()
        for at in range(0, len(beats), 1000):
            samples = {
                agent_id: HeartbeatSample(HeartbeatMetrics(**metrics), now)
                for agent_id, metrics in beats[at : at + 1000]
            }
            async with self.store.engine.begin() as connection:
                await write_heartbeats(connection, samples)
        elapsed = time.perf_counter() - start
        return len(beats) / elapsed, f"{len(beats)} rows in {elapsed:.2f} s"


async def measure_backend(backend: str, args: argparse.Namespace) -> list[Row]:
    async with database(backend, args.server_url) as url:
        engine = create_engine(url)
        try:
            async with LocalAgentRegistry(engine, migrate=False) as registry:
                bench = Embedded(registry, AgentStore(engine), args)
                await bench.register_fleet()
                return await _measure(backend, bench, args.repeats)
        finally:
            await engine.dispose()


async def _measure(backend: str, bench: Embedded, repeats: int) -> list[Row]:
    # Heartbeats before discovery: registering takes long enough on a loaded database for
    # the fleet to go silent, and discovery must find agents heard from on time.
    pairs: list[tuple[tuple[str, Measurement], ...]] = [
        (("register_gather", bench.register_gather),
         ("register direct", bench.direct_registration)),
        (("register_many", bench.register_many),),
        (("heartbeats", bench.heartbeats),
         ("heartbeats written directly", bench.direct_heartbeats)),
        (("discovery", bench.discovery_p50), ("raw SQL candidates query", bench.sql_p50)),
    ]  # fmt: skip
    samples: dict[str, list[float]] = {}
    for repeat in range(repeats):
        for pair in pairs:
            for name, run in pair if repeat % 2 == 0 else pair[::-1]:
                value, note = await run()
                samples.setdefault(name, []).append(value)
                log.info("%s repeat %d %s: %s", backend, repeat + 1, name, note)
    direct_registration = statistics.median(samples["register direct"])
    per_s = 10_000 / 10  # 10,000 agents within 10 s
    component = f"embedded_{backend}"
    return [
        Row.from_samples(component, "register_gather", "agents/s", samples["register_gather"],
                         target=Target(per_s, AT_LEAST), baseline=direct_registration),
        Row.from_samples(component, "register_many", "agents/s", samples["register_many"],
                         target=Target(per_s, AT_LEAST), baseline=direct_registration),
        Row.from_samples(component, "discovery_p50", "ms", samples["discovery"],
                         target=Target(5, AT_MOST),
                         baseline=statistics.median(samples["raw SQL candidates query"])),
        Row.from_samples(component, "heartbeats", "per s", samples["heartbeats"],
                         target=Target(20_000, AT_LEAST),
                         baseline=statistics.median(samples["heartbeats written directly"])),
    ]  # fmt: skip


async def run_bench(args: argparse.Namespace) -> list[Row]:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows: list[Row] = []
    for backend in backends:
        rows.extend(await measure_backend(backend, args))
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=10_000, help="agents per fleet (N)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each measurement")
    parser.add_argument("--queries", type=int, default=400, help="discoveries per repeat (Q)")
    parser.add_argument("--heartbeats", type=int, default=100_000, help="per repeat (M)")
    parser.add_argument("--tasks", type=int, default=8, help="tasks sending heartbeats (T)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seed", type=int, default=7, help="seed of the fleets and workload")
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL,
                        help="Postgres server to create the benchmark database on")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    for name in ("agents", "repeats", "queries", "heartbeats", "tasks"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    log.setLevel(logging.INFO)
    rows = asyncio.run(run_bench(args))
    print_report(rows, as_json=args.json, title=f"embedded registry, {args.agents} agents")
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
