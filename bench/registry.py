"""Registry benchmark: discovery latency and heartbeat throughput through the service, 10k agents.

Run: ``.venv/bin/python bench/registry.py [--agents 10000] [--repeats 3] [--queries 400]
[--heartbeats 100000] [--concurrency 8] [--database-url URL] [--json]``.

Setup: a fresh Postgres database ``orch_bench_<hex>`` on the local server (``--server-url``),
dropped at the end, or the database at ``--database-url`` (the ``bench-agent-*`` rows are
deleted at the end); migrated; N agents with realistic variety (3-7 capabilities from a pool
of 50, so one capability narrows the fleet to about a tenth; one or two of the 8 service
types; a region tag of 8, an environment and a tier tag; 10 versions, pre-releases among them;
varied last heartbeats, so health scores differ). They are written straight into the tables,
as a registration writes them (the store's own ``descriptor_values``): registering 10k agents
one request at a time would take minutes and is not what is measured. Then the real service,
``python -m orchestration.cli registry serve``, in a subprocess on a free port, configured by
``ORCH_*`` variables (``ORCH_LOG_LEVEL=WARNING``: no log line per request); the client runs
here, so client and server do not share a GIL (they share the machine's cores).

The service runs a health pass every ``--health-check-interval`` seconds (5; the default is
60), so passes fall inside every phase, and expects a heartbeat every 120 s (the default is
30): the bench heartbeats each agent once a repeat, and a repeat at 100,000 agents takes
minutes. Measured, R repeats each, service and baseline
alternating which goes first, in this order (registrations, heartbeats, discovery: at
100,000 agents the registrations take minutes, and discovery must follow heartbeats):

- ``registrations``: ``--registrations`` (default N) agents never registered before, with
  ``RemoteAgentRegistry.register_many`` (``POST /agents/batch``, 1,000 per request, two in
  flight), clocked until the last answer. Baseline: as many other new agents written here
  by the store (``AgentStore.upsert_many``, 1,000 per transaction). Both sets are deleted
  again after they are measured (the service's snapshot drops them at its next sync).
  Target: 100,000 within 60 s (1,667 per s).
- ``discovery_p50`` and ``discovery_p99``: Q sequential ``RemoteAgentRegistry.discover`` calls
  cycling through a mix of 20 queries (one or two capabilities, with service types, tags, a
  version constraint, a minimum health, a location preference, 5 to 50 results; one query of
  the 20 has no capability filter, so all N agents are candidates); the p50 of each repeat is
  a sample. Baseline: the raw SQL candidates query of each query (the capability ``GROUP BY
  ... HAVING`` filter, the summary columns, ordered by id), executed here with SQLAlchemy on
  an open connection and fetched, the same Q queries; its p50. The p99 of each repeat is a
  sample of ``discovery_p99`` (health passes included; target 20 ms, ours: 4x the p50 target).
- ``heartbeats``: M heartbeats (500 distinct agents per ``POST /heartbeats``, C requests in
  flight, cycling through the fleet), clocked from the first request until the database
  shows them all written (the sum of ``heartbeat_count`` grew by M; polled every 5 ms once the
  last request was answered): HTTP, validation, the service's batching buffer and its batched
  ``UPDATE``. The service may coalesce heartbeats of one agent that arrive between two of
  its flushes into one row update (the count grows by their number): that is its design, and
  why the count, not the number of rows written, is what is awaited. Throughput depends on
  the requests in flight (C): the client, the service and Postgres share the machine's cores.
  Baseline: the same M heartbeat rows written here directly, one batched ``UPDATE`` (the
  store's ``write_heartbeats``) per 500, one transaction each, one after another.

Before each phase the bench waits (up to 30 s, untimed) until the service uses under a tenth
of a core: the work a phase leaves it (syncing the rows a baseline wrote behind its back,
dropping deleted agents) is not the next phase's cost. CPU seconds of the service and of
this process per phase go to stderr with p95 latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.cpu import CpuMeter, settle
from bench.report import AT_LEAST, AT_MOST, Row, Target, exit_status, print_report
from orchestration.testing.database import temporary_postgres_database
from orchestration.testing.ports import free_port
from registry.discovery import DiscoveryQuery
from registry.health.policy import HealthPolicy, assess
from registry.models import AgentDescriptor, ServiceType
from registry.records import HeartbeatMetrics, HeartbeatSample
from registry.remote_registry import RemoteAgentRegistry
from registry.store.agent_rows import descriptor_values
from registry.store.agents import AgentStore
from registry.store.candidates import CandidateFilter
from registry.store.engine import create_engine
from registry.store.heartbeat_writer import write_heartbeats
from registry.store.migrations import upgrade
from registry.store.tables import AgentCapabilityEntry, AgentEntry

log = logging.getLogger("bench.registry")

AGENTS = cast(Table, AgentEntry.__table__)
CAPABILITY_ROWS = cast(Table, AgentCapabilityEntry.__table__)
DEFAULT_SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PREFIX = "bench-agent-"
REGISTRATIONS_PER_S = 100_000 / 60
"""The target: 100,000 agents registered through the service within a minute."""

DOMAINS = ("carbon", "scope1", "scope2", "scope3", "energy", "water", "waste", "supply", "csrd",
           "ghg")  # fmt: skip
TASKS = ("calculation", "validation", "collection", "reporting", "forecasting")
CAPABILITIES = tuple(f"{domain}_{task}" for domain in DOMAINS for task in TASKS)
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1",
           "ap-northeast-1", "sa-east-1", "ca-central-1")  # fmt: skip
VERSIONS = ("1.0.0", "1.2.3", "1.4.0", "2.0.0", "2.1.0", "2.1.0rc1", "2.2.1", "3.0.0-beta.1",
            "3.0.0", "3.1.2")  # fmt: skip
AGENT_TYPES = ("CarbonCalculatorAgent", "DataCollectorAgent", "ValidatorAgent",
               "ReportGeneratorAgent", "ForecastAgent")  # fmt: skip
SUMMARY_COLUMNS = (
    AGENTS.c.agent_id, AGENTS.c.version, AGENTS.c.location, AGENTS.c.updated_at,
    AGENTS.c.last_heartbeat_at, AGENTS.c.cpu_usage, AGENTS.c.error_rate,
    AGENTS.c.response_time_ms, AGENTS.c.status,
)  # fmt: skip


class BenchFailure(Exception):
    """The benchmark could not measure what it set out to."""


# -- the fleet and the workload ---------------------------------------------------------


def fleet(count: int, rng: random.Random) -> list[AgentDescriptor]:
    """``count`` agents with the variety the module docstring describes."""
    agents = []
    for index in range(count):
        agent_id = f"{PREFIX}{index:05d}"
        region = rng.choice(REGIONS)
        agents.append(
            AgentDescriptor(
                agent_id=agent_id,
                agent_type=rng.choice(AGENT_TYPES),
                version=rng.choice(VERSIONS),
                capabilities=rng.sample(CAPABILITIES, rng.randint(3, 7)),
                service_types=rng.sample(list(ServiceType), rng.choice((1, 1, 2))),
                endpoint=f"temporal://{agent_id}",
                tags=[
                    region,
                    rng.choice(("production", "production", "staging")),
                    rng.choice(("gold", "silver", "bronze")),
                ],
                metadata={"team": f"team-{index % 40:02d}", "owner": "bench"},
            )
        )
    return agents


def reading(rng: random.Random) -> dict[str, float]:
    """Heartbeat metrics: mostly healthy, some degraded, a few failing."""
    return {
        "cpu_usage": round(rng.uniform(0.05, 0.95), 3),
        "error_rate": rng.choice((0.0, 0.0, 0.0, 0.0, 0.01, 0.02, 0.05, 0.1, 0.3)),
        "response_time_ms": round(rng.uniform(40.0, 1500.0), 1),
    }


def query_mix(rng: random.Random) -> list[dict[str, Any]]:
    """20 discovery queries; the 10th has no capability filter (every agent is a candidate)."""
    mix: list[dict[str, Any]] = []
    for index in range(20):
        capability, other = rng.sample(CAPABILITIES, 2)
        region = rng.choice(REGIONS)
        kind = index % 10
        query: dict[str, Any] = {"capabilities": [capability]}
        if kind == 3:
            query["service_types"] = [rng.choice(list(ServiceType)).value]
        elif kind == 4:
            query["location_preference"] = region
        elif kind == 5:
            query.update(version_constraint=">=2.0,<3", min_health_score=0.5)
        elif kind == 6:
            query.update(capabilities=[capability, other], max_results=5)
        elif kind == 7:
            query.update(tags=["production"], min_health_score=0.8, location_preference=region)
        elif kind == 8:
            query["max_results"] = 50
        elif kind == 9 and index == 9:
            query = {"location_preference": region, "min_health_score": 0.7}
        mix.append(query)
    return mix


def heartbeat_batches(
    readings: dict[str, dict[str, float]], total: int, size: int
) -> list[dict[str, dict[str, float]]]:
    """``total`` heartbeats in batches of ``size`` distinct agents, cycling through the fleet.

    Each agent reports its own steady reading, so statuses do not flap between rounds.
    """
    size = min(size, len(readings))
    batches = []
    cursor = itertools.cycle(readings.items())
    for start in range(0, total, size):
        batches.append(dict(itertools.islice(cursor, min(size, total - start))))
    return batches


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


async def discovery_ms(
    discover: Callable[[DiscoveryQuery], Awaitable[Sequence[Any]]],
    queries: Sequence[dict[str, Any]],
) -> list[float]:
    """The latency of each query through ``discover``, one after another, in ms.

    Raises:
        BenchFailure: more than a tenth found nobody (the fleet went silent).
    """
    latencies = []
    empty = 0
    for query in queries:
        start = time.perf_counter()
        found = await discover(DiscoveryQuery.build(**query))
        latencies.append((time.perf_counter() - start) * 1000)
        empty += not found
    if empty > len(queries) // 10:
        raise BenchFailure(f"{empty} of {len(queries)} discoveries found nobody")
    return latencies


async def sql_candidates_ms(engine: AsyncEngine, queries: Sequence[dict[str, Any]]) -> list[float]:
    """The latency of each query's raw SQL candidates query (the baseline), fetched, in ms."""
    latencies = []
    async with engine.connect() as connection:
        for query in queries:
            where = CandidateFilter.of(
                query.get("capabilities", ()),
                query.get("service_types", ()),
                query.get("tags", ()),
            )
            statement = where.where(select(*SUMMARY_COLUMNS).order_by(AGENTS.c.agent_id))
            start = time.perf_counter()
            (await connection.execute(statement)).all()
            latencies.append((time.perf_counter() - start) * 1000)
    return latencies


# -- database -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def bench_database(args: argparse.Namespace) -> AsyncIterator[str]:
    """A migrated database: a fresh one dropped at the end, or ``--database-url`` cleaned."""
    if args.database_url:
        await upgrade(args.database_url)
        try:
            yield args.database_url
        finally:
            engine = create_engine(args.database_url)
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        AGENTS.delete().where(AGENTS.c.agent_id.like(f"{PREFIX}%"))
                    )
            finally:
                await engine.dispose()
        return
    async with temporary_postgres_database(args.server_url, prefix="orch_bench") as url:
        await upgrade(url)
        yield url
        log.info("dropping database %s", make_url(url).database)


async def insert_fleet(
    engine: AsyncEngine,
    agents: Sequence[AgentDescriptor],
    readings: dict[str, dict[str, float]],
) -> None:
    """Write the agents' rows as registrations would, each with one heartbeat (its reading)
    and the status the registry would have written for it."""
    now = datetime.now(UTC)
    agent_rows: list[dict[str, Any]] = []
    capability_rows: list[dict[str, str]] = []
    for agent in agents:
        values = readings[agent.agent_id]
        status = assess(HeartbeatMetrics(**values), now, now, HealthPolicy()).status
        agent_rows.append(
            {
                **descriptor_values(agent),
                **values,
                "registered_at": now,
                "updated_at": now,
                "last_heartbeat_at": now,
                "heartbeat_count": 1,
                "status": status.value,
                "status_changed_at": now,
            }
        )
        capability_rows.extend({"agent_id": agent.agent_id, "capability": c}
                               for c in agent.capabilities)  # fmt: skip
    async with engine.begin() as connection:
        for start in range(0, len(agent_rows), 1000):
            await connection.execute(insert(AGENTS), agent_rows[start : start + 1000])
        for start in range(0, len(capability_rows), 5000):
            await connection.execute(insert(CAPABILITY_ROWS), capability_rows[start : start + 5000])


async def written_heartbeats(connection: AsyncConnection) -> int:
    total = await connection.execute(
        select(func.coalesce(func.sum(AGENTS.c.heartbeat_count), 0)).where(
            AGENTS.c.agent_id.like(f"{PREFIX}%")
        )
    )
    return int(total.scalar_one())


# -- the service ----------------------------------------------------------------------------


@dataclass
class Service:
    base_url: str
    pid: int
    log_path: Path

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.asynccontextmanager
async def registry_service(
    database_url: str, workdir: Path, health_check_interval_s: float
) -> AsyncIterator[Service]:
    """``orchestration registry serve`` in a subprocess, until it answers ``/health``."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(
        ORCH_DATABASE_URL=database_url,
        ORCH_DATABASE_AUTO_MIGRATE="false",
        ORCH_REGISTRY_HOST="127.0.0.1",
        ORCH_REGISTRY_PORT=str(port),
        ORCH_LOG_LEVEL="WARNING",
        ORCH_STATE_DIR=str(workdir / "state"),
        ORCH_REGISTRY_HEALTH_CHECK_INTERVAL_S=str(health_check_interval_s),
        # The bench heartbeats each agent once a repeat, and a repeat at 100,000 agents
        # takes minutes (the raw SQL baseline alone about two): agents that heartbeat
        # every 120 s stay on time through it (silent after 360 s).
        ORCH_REGISTRY_HEARTBEAT_INTERVAL_S="120",
    )
    log_path = workdir / "service.log"
    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestration.cli", "registry", "serve",
            env=env, cwd=workdir, stdout=output, stderr=output,
        )  # fmt: skip
    service = Service(f"http://127.0.0.1:{port}", process.pid, log_path)
    try:
        await _wait_healthy(service, process)
        yield service
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_healthy(service: Service, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=service.base_url, timeout=2) as client:
        while True:
            if process.returncode is not None:
                raise BenchFailure(f"the service exited ({process.returncode}):\n{service.tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise BenchFailure(f"the service did not answer within 120 s:\n{service.tail()}")
            await asyncio.sleep(0.1)


# -- CPU accounting -------------------------------------------------------------------------


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Bench:
    """The client side of the measurements; each measurement returns (value, log note)."""

    remote: RemoteAgentRegistry
    engine: AsyncEngine
    readings: dict[str, dict[str, float]]
    mix: list[dict[str, Any]]
    queries: int
    heartbeats: int
    batch: int
    concurrency: int
    registrations: int
    rng: random.Random
    service_pid: int
    repeat: int = 0
    discovery_p99s: list[float] = field(default_factory=list)

    def workload(self) -> list[dict[str, Any]]:
        return [self.mix[i % len(self.mix)] for i in range(self.queries)]

    async def discovery_ms(self, queries: Sequence[dict[str, Any]]) -> list[float]:
        return await discovery_ms(self.remote.discover, queries)

    async def sql_ms(self, queries: Sequence[dict[str, Any]]) -> list[float]:
        return await sql_candidates_ms(self.engine, queries)

    async def discovery_p50(self) -> tuple[float, str]:
        latencies = await self.discovery_ms(self.workload())
        self.discovery_p99s.append(percentile(latencies, 0.99))
        return statistics.median(latencies), spread(latencies)

    async def sql_p50(self) -> tuple[float, str]:
        latencies = await self.sql_ms(self.workload())
        return statistics.median(latencies), spread(latencies)

    async def service_heartbeats(self, total: int | None = None) -> tuple[float, str]:
        """Heartbeats per second through the service, until all are in the database."""
        batches = heartbeat_batches(self.readings, total or self.heartbeats, self.batch)
        sent = sum(len(b) for b in batches)
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            target = await written_heartbeats(connection) + sent
            queue = iter(batches)

            async def sender() -> None:
                for batch in queue:
                    result = await self.remote.heartbeats(batch)
                    if result.unknown or result.rejected or len(result.accepted) != len(batch):
                        raise BenchFailure(f"a heartbeat batch was not accepted: {result}")

            start = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(self.concurrency)))
            answered = time.perf_counter() - start
            deadline = time.monotonic() + 60
            while await written_heartbeats(connection) < target:
                if time.monotonic() > deadline:
                    raise BenchFailure("heartbeats not all written within 60 s of being accepted")
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - start
        return sent / elapsed, f"{sent} answered in {answered:.2f} s, written in {elapsed:.2f} s"

    async def direct_heartbeats(self) -> tuple[float, str]:
        """Heartbeat rows per second written here, one batched UPDATE per ``batch``."""
        now = datetime.now(UTC)
        batches = [
            {a: HeartbeatSample(HeartbeatMetrics(**m), now) for a, m in batch.items()}
            for batch in heartbeat_batches(self.readings, self.heartbeats, self.batch)
        ]
        sent = sum(len(b) for b in batches)
        start = time.perf_counter()
        for samples in batches:
            async with self.engine.begin() as connection:
                await write_heartbeats(connection, samples)
        elapsed = time.perf_counter() - start
        return sent / elapsed, f"{sent} rows in {elapsed:.2f} s"

    def newcomers(self, kind: str) -> list[AgentDescriptor]:
        """``registrations`` agents never registered before (ids ``bench-agent-r<n><kind>-``)."""
        prefix = f"{PREFIX}r{self.repeat}{kind}-"
        agents = fleet(self.registrations, self.rng)
        return [a.model_copy(update={"agent_id": prefix + a.agent_id[len(PREFIX):]})
                for a in agents]  # fmt: skip

    async def service_registration(self) -> tuple[float, str]:
        """New agents per second through ``register_many`` (``POST /agents/batch``)."""
        agents = self.newcomers("s")
        start = time.perf_counter()
        registered = await self.remote.register_many(agents)
        elapsed = time.perf_counter() - start
        if len(registered) != len(agents):
            raise BenchFailure(f"{len(registered)} of {len(agents)} agents registered")
        await self.forget(agents)
        return len(agents) / elapsed, f"{len(agents)} agents in {elapsed:.2f} s"

    async def direct_registration(self) -> tuple[float, str]:
        """New agents per second written here by the store, 1,000 per transaction."""
        agents = self.newcomers("d")
        store = AgentStore(self.engine)
        start = time.perf_counter()
        for at in range(0, len(agents), 1000):
            values = [descriptor_values(a) for a in agents[at : at + 1000]]
            await store.upsert_many(values, datetime.now(UTC))
        elapsed = time.perf_counter() - start
        await self.forget(agents)
        return len(agents) / elapsed, f"{len(agents)} agents in {elapsed:.2f} s"

    async def forget(self, agents: Sequence[AgentDescriptor]) -> None:
        """Delete the newcomers' rows (the service's snapshot drops them at its next sync)."""
        prefix = agents[0].agent_id.rsplit("-", 1)[0] + "-"
        async with self.engine.begin() as connection:
            await connection.execute(AGENTS.delete().where(AGENTS.c.agent_id.like(f"{prefix}%")))


def spread(latencies: Sequence[float]) -> str:
    return (
        f"p50 {statistics.median(latencies):.2f} ms, p95 {percentile(latencies, 0.95):.2f} ms, "
        f"max {max(latencies):.1f} ms"
    )


Measurement = Callable[[], Awaitable[tuple[float, str]]]


async def measure(bench: Bench, repeats: int, meter: CpuMeter) -> list[Row]:
    """Warm up, then per repeat each measurement and its baseline, alternating which is first."""
    await bench.discovery_ms(bench.mix)
    await bench.sql_ms(bench.mix)
    await bench.service_heartbeats(min(bench.heartbeats, 10 * bench.batch))
    # Registrations first, then heartbeats, then discovery: at 100,000 agents a repeat's
    # registrations take minutes, and discovery must find agents heard from on time.
    pairs: list[tuple[tuple[str, Measurement], tuple[str, Measurement]]] = [
        (
            ("registering via the service", bench.service_registration),
            ("registering directly", bench.direct_registration),
        ),
        (
            ("heartbeats via the service", bench.service_heartbeats),
            ("heartbeats written directly", bench.direct_heartbeats),
        ),
        (
            ("discovery via the service", bench.discovery_p50),
            ("raw SQL candidates query", bench.sql_p50),
        ),
    ]
    samples: dict[str, list[float]] = {}
    for repeat in range(repeats):
        bench.repeat = repeat + 1
        for pair in pairs:
            for name, run in pair if repeat % 2 == 0 else pair[::-1]:
                # What a phase leaves the service to do (syncing rows written here, a health
                # pass) is not the next phase's cost.
                waited = await settle(bench.service_pid, timeout_s=30)
                with meter.measure(name):
                    value, note = await run()
                log.info("(the service settled in %.1f s before %s)", waited, name)
                samples.setdefault(name, []).append(value)
                log.info("repeat %d %s: %s", repeat + 1, name, note)
    return [
        Row.from_samples(
            "registry", "discovery_p50", "ms", samples["discovery via the service"],
            target=Target(5, AT_MOST),
            baseline=statistics.median(samples["raw SQL candidates query"]),
        ),
        Row.from_samples(
            "registry", "discovery_p99", "ms", bench.discovery_p99s,
            target=Target(20, AT_MOST),
            baseline=statistics.median(samples["raw SQL candidates query"]),
        ),
        Row.from_samples(
            "registry", "heartbeats", "per s", samples["heartbeats via the service"],
            target=Target(20_000, AT_LEAST),
            baseline=statistics.median(samples["heartbeats written directly"]),
        ),
        Row.from_samples(
            "registry", "registrations", "per s", samples["registering via the service"],
            target=Target(REGISTRATIONS_PER_S, AT_LEAST),
            baseline=statistics.median(samples["registering directly"]),
        ),
    ]  # fmt: skip


async def run_bench(args: argparse.Namespace) -> list[Row]:
    rng = random.Random(args.seed)
    agents = fleet(args.agents, rng)
    readings = {agent.agent_id: reading(rng) for agent in agents}
    async with bench_database(args) as url:
        engine = create_engine(url)
        try:
            started = time.perf_counter()
            await insert_fleet(engine, agents, readings)
            log.info("wrote %d agents in %.1f s", len(agents), time.perf_counter() - started)
            with tempfile.TemporaryDirectory(prefix="bench-registry-") as workdir:
                started = time.perf_counter()
                interval = args.health_check_interval
                async with registry_service(url, Path(workdir), interval) as service:
                    log.info("service ready in %.1f s", time.perf_counter() - started)
                    try:
                        return await _measure_on(service, engine, readings, rng, args)
                    except BaseException:
                        log.error("last lines of the service's log:\n%s", service.tail())
                        raise
        finally:
            await engine.dispose()


async def _measure_on(
    service: Service,
    engine: AsyncEngine,
    readings: dict[str, dict[str, float]],
    rng: random.Random,
    args: argparse.Namespace,
) -> list[Row]:
    meter = CpuMeter({"service": service.pid, "bench": "self"})
    async with RemoteAgentRegistry(service.base_url, timeout_s=60) as remote:
        bench = Bench(
            remote=remote,
            engine=engine,
            readings=readings,
            mix=query_mix(rng),
            queries=args.queries,
            heartbeats=args.heartbeats,
            batch=args.batch,
            concurrency=args.concurrency,
            registrations=args.registrations or args.agents,
            rng=random.Random(args.seed + 1),
            service_pid=service.pid,
        )
        rows = await measure(bench, args.repeats, meter)
    for line in meter.summary():
        log.info("CPU during %s", line)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--agents", type=int, default=10_000, help="registered agents (N)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each measurement (R)")
    parser.add_argument("--queries", type=int, default=400, help="discoveries per repeat (Q)")
    parser.add_argument("--heartbeats", type=int, default=100_000, help="per repeat (M)")
    parser.add_argument("--batch", type=int, default=500, help="heartbeats per request")
    parser.add_argument("--concurrency", type=int, default=8, help="heartbeat requests in flight")
    parser.add_argument(
        "--registrations",
        type=int,
        default=0,
        help="new agents registered per repeat (default: --agents)",
    )
    parser.add_argument(
        "--health-check-interval",
        type=float,
        default=5.0,
        help="the service's health pass interval, s (default 5: several passes fall in every run)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the fleet and workload")
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL,
                        help="Postgres server to create the benchmark database on")  # fmt: skip
    parser.add_argument("--database-url", help="use this database instead of a fresh one")
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    args = parser.parse_args(argv)
    for name in ("agents", "repeats", "queries", "heartbeats", "batch", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    log.setLevel(logging.INFO)
    rows = asyncio.run(run_bench(args))
    print_report(rows, as_json=args.json, title=f"registry benchmark, {args.agents} agents")
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
