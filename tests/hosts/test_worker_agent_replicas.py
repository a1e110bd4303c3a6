"""Two orchestration workers and two replicas of the CSRD and swarm agents on four hosts;
Temporal and Postgres on a fifth; sagas and a swarm started from a sixth. ``work-a``'s link is
cut while 100 CSRD sagas and a 1,000-partition swarm run, later ``agents-a``'s too, and then
``agents-a``'s comes back with its calls long retried elsewhere (a partition that heals):
everything completes through the survivors, every step's effect is applied once (the ledger
in Postgres), and no saga waits much longer than a step's timeout plus a retry."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from orchestration.core.settings import Settings
from orchestration.stack.processes import ManagedProcess
from orchestration.testing.ports import free_port
from tests.hosts.bed import Bed
from tests.hosts.postgres import private_postgres
from tests.hosts.services import (
    cli,
    core_settings,
    run_on,
    start_temporal,
    temporal_env,
    until_healthy,
)
from tests.reliability.figures import Figures

SAGAS = 100
IN_FLIGHT = 20
STEP_TIMEOUT_MS = 10_000
LATENCY_MS = 150
PARTITIONS = 1_000
HERE = Path(__file__).parent
SWARM_AGENTS = HERE.parents[1] / "examples" / "swarm" / "agents.py"
READY_S = 90
WORKFLOW_TASK_TIMEOUT_S = 10  # Temporal's default
RETRY_INTERVAL_S = 1  # the steps' first retry interval (SagaStep's default RetrySpec)


@pytest.fixture
def bed() -> Iterator[Bed]:
    made = Bed.create(["core", "work-a", "work-b", "agents-a", "agents-b", "client"])
    try:
        yield made
    finally:
        made.destroy()


@pytest_asyncio.fixture
async def core(bed: Bed, tmp_path: Path) -> AsyncIterator[tuple[Settings, str]]:
    """Temporal and Postgres on ``core`` (migrated): the settings and the database URL."""
    host = bed["core"]
    settings = core_settings(host, tmp_path / "core")
    async with private_postgres(bed, host, tmp_path) as database:
        temporal = await start_temporal(host, settings, tmp_path)
        try:
            env = temporal_env(settings, tmp_path / "migrate", DATABASE_URL=database)
            await run_on(bed["work-a"], cli("db", "upgrade"), env)
            yield settings, database
        finally:
            await temporal.stop()


async def _ledger_keys(database: str, prefix: str) -> list[str]:
    url = database.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT idempotency_key FROM action_ledger WHERE idempotency_key LIKE $1",
            f"{prefix}-%",
        )
    finally:
        await connection.close()
    return [row["idempotency_key"] for row in rows]


async def test_sagas_and_a_swarm_complete_through_surviving_workers_and_agents(
    bed: Bed,
    core: tuple[Settings, str],
    unique: str,
    tmp_path: Path,
    reliability_figures: Figures,
) -> None:
    settings, database = core
    queue = f"orch-{unique}"
    shared = tmp_path / "shared"  # the CSRD agents' files: a volume both replicas mount

    def env(host: str, **more: str) -> dict[str, str]:
        return temporal_env(
            settings, shared if host.startswith("agents") else tmp_path / host,
            DATABASE_URL=database, DATABASE_AUTO_MIGRATE="false", TASK_QUEUE=queue,
            AGENT_REGISTER="false", **more,
        )  # fmt: skip

    processes: list[ManagedProcess] = []

    async def spawn(host: str, name: str, argv: list[str], **more: str) -> ManagedProcess:
        process = await ManagedProcess.spawn(
            f"{name} on {host}", bed[host].command(argv),
            log_file=tmp_path / f"{name}-{host}.log", env=env(host, **more),
        )  # fmt: skip
        processes.append(process)
        return process

    async def logged(process: ManagedProcess, text: str, times: int = 1) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_S
        while process.log_file.read_text().count(text) < times:
            assert process.alive and loop.time() < deadline, process.tail(40)
            await asyncio.sleep(0.2)

    prefix = f"hosts-{unique}"
    swarm_prefix = f"hs{unique[:6]}"
    try:
        for host in ("work-a", "work-b"):
            port = free_port()
            worker = await spawn(
                host, "worker", cli("worker"),
                METRICS_PORT=str(port), METRICS_HOST=bed[host].address,
            )  # fmt: skip
            await until_healthy(f"http://{bed[host].address}:{port}/metrics", worker)
        for host in ("agents-a", "agents-b"):
            agents = await spawn(host, "csrd", cli("agent", "examples.csrd.agents:ALL_AGENTS"))
            await logged(agents, "polling task queue", 4)
            swarm = await spawn(
                host, "swarm",
                [sys.executable, str(SWARM_AGENTS), "--count", "3", "--prefix", swarm_prefix],
            )  # fmt: skip
            await logged(swarm, "ready")

        task = {
            "swarm_id": f"{prefix}-swarm", "objective": "partitions across hosts",
            "data_partitions": PARTITIONS, "agents_required": 3,
            "action": "calculate_emissions",
            "agents": [f"{swarm_prefix}-{n:03d}" for n in range(3)],
            # 30 ms a partition: the swarm runs through the cuts, not before them.
            "params": {"suppliers_per_partition": 5, "delay_ms": 30},
            "heartbeat_timeout_ms": 5_000,
            "timeout_ms": 600_000,
        }  # fmt: skip
        (tmp_path / "swarm.json").write_text(json.dumps(task))
        client = bed["client"]
        swarm_run = asyncio.create_task(
            run_on(
                client, cli("swarm", "deploy", str(tmp_path / "swarm.json"), "--json"),
                env("client", SWARM_MIN_AGENTS="1"), timeout_s=600,
            )
        )  # fmt: skip
        driver = await asyncio.create_subprocess_exec(
            *client.command([
                sys.executable, str(HERE / "saga_driver.py"), prefix, str(SAGAS),
                str(IN_FLIGHT), str(STEP_TIMEOUT_MS), str(LATENCY_MS),
            ]),
            env=env("client"), stdout=asyncio.subprocess.PIPE,
            stderr=(tmp_path / "driver.log").open("wb"),
        )  # fmt: skip
        assert driver.stdout is not None
        faults: list[str] = []
        cut_at: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        swarm_ended: list[float] = []
        swarm_run.add_done_callback(lambda _: swarm_ended.append(loop.time()))
        report: dict[str, Any] | None = None
        async with asyncio.timeout(900):
            async for raw in driver.stdout:
                line = raw.decode().strip()
                if line.startswith("done "):
                    done = int(line.split()[1])
                    if done >= 15 and "work-a" not in faults:
                        bed.cut("work-a")
                        faults.append("work-a")
                        cut_at["work-a"] = loop.time()
                    elif done >= 40 and "agents-a" not in faults:
                        bed.cut("agents-a")
                        faults.append("agents-a")
                    elif done >= 70 and "agents-a healed" not in faults:
                        bed.restore("agents-a")  # its calls were retried elsewhere long ago
                        faults.append("agents-a healed")
                elif line.startswith("{"):
                    report = json.loads(line)
            assert await driver.wait() == 0, (tmp_path / "driver.log").read_text()[-3000:]
            swarm_out = await swarm_run
        bed.restore("work-a")
        keys = await _ledger_keys(database, prefix)
    finally:
        for process in reversed(processes):
            await process.stop()

    assert report is not None
    sagas = report["sagas"]
    states = [state for state, _ in sagas.values()]
    durations = sorted(seconds for _, seconds in sagas.values())
    steps = ("collect_data", "validate", "generate_report", "publish")
    expected = {f"{prefix}-{n}/{step}" for n in range(SAGAS) for step in steps}
    applied = [key for key in keys if "/" in key and not key.startswith(f"{prefix}-swarm")]
    lost = len(expected - set(applied))
    duplicated = len(applied) - len(set(applied))
    spread = (
        f"p50 {statistics.median(durations):.1f} s, p90 "
        f"{durations[int(0.9 * len(durations)) - 1]:.1f} s, max {durations[-1]:.1f} s"
    )
    reliability_figures.record(
        "worker and agent hosts cut mid-run (6 hosts)",
        trials=SAGAS * len(steps),
        faults=len(faults),
        lost=lost,
        duplicated=duplicated,
        note=f"sagas {spread}; the {PARTITIONS}-partition swarm ended "
        f"{swarm_ended[0] - cut_at['work-a']:.0f} s after work-a's cut",
    )
    assert swarm_ended[0] > cut_at["work-a"], "the swarm ended before the first cut"
    assert faults == ["work-a", "agents-a", "agents-a healed"]
    assert states == ["COMPLETED"] * SAGAS, [s for s in states if s != "COMPLETED"][:3]
    assert lost == 0 and duplicated == 0
    assert set(applied) == expected, sorted(set(applied) ^ expected)[:5]
    # No saga waited longer than a step's timeout, one retry interval and a workflow task's
    # timeout (a cut worker's task) beyond the fastest saga, with half again as margin.
    unharmed = durations[0]
    bound = unharmed + STEP_TIMEOUT_MS / 1000 + RETRY_INTERVAL_S + WORKFLOW_TASK_TIMEOUT_S
    assert durations[-1] <= bound * 1.5, spread
    # The result's JSON (pretty-printed from its first line "{"), then whatever follows.
    start = 0 if swarm_out.startswith("{\n") else swarm_out.index("\n{\n") + 1
    result, _ = json.JSONDecoder().raw_decode(swarm_out[start:])
    assert result["partitions_completed"] == PARTITIONS, result
