"""An agent process killed mid-swarm: its partitions are reassigned and counted once, with
generated suppliers and with a CSV dataset the agents read."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.swarm.supplier_csv import csv_total, write_suppliers_csv
from examples.swarm.suppliers import sequential_total
from orchestration.clients.swarm import SwarmOrchestrator
from orchestration.core.settings import Settings, SwarmConfig
from swarm.scheduling import SwarmBehavior
from tests.reliability.figures import Figures
from workers.orchestration_worker import build_worker
from workflows.swarm_files import DatasetSource
from workflows.swarm_models import SwarmTask

PROCESSES = 2
AGENTS_PER_PROCESS = 3


async def _agents_process(
    client: Client, prefix: str, first: int, log: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "ORCH_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "ORCH_TEMPORAL_NAMESPACE": client.namespace,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.swarm.agents",
        "--first", str(first), "--count", str(AGENTS_PER_PROCESS), "--prefix", prefix,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=log.open("ab"), start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line.startswith(b"ready"), log.read_text()
    return process


@pytest.mark.parametrize("source", ["generated", "dataset"])
async def test_a_killed_agent_process_loses_no_partition_and_counts_none_twice(
    temporal_client: Client,
    unique: str,
    tmp_path: Path,
    reliability_figures: Figures,
    source: str,
) -> None:
    log = tmp_path / "agents.log"
    processes = [
        await _agents_process(temporal_client, unique, n * AGENTS_PER_PROCESS, log)
        for n in range(PROCESSES)
    ]
    settings = Settings(task_queue=f"orch-{unique}")
    swarm = SwarmOrchestrator(
        client=temporal_client, settings=settings, config=SwarmConfig(min_agents=1)
    )
    agents = [f"{unique}-{n:03d}" for n in range(PROCESSES * AGENTS_PER_PROCESS)]
    if source == "dataset":
        export = write_suppliers_csv(tmp_path / "suppliers.csv", 600)
        expected, _ = csv_total(export)
        data: dict[str, object] = {
            "source": DatasetSource(uri=str(export), rows_per_partition=10),
            "action": "calculate_rows",
            "params": {"delay_ms": 40},
        }
    else:
        expected = sequential_total(60, 10)
        data = {
            "data_partitions": 60,
            "items_per_partition": 10,
            "action": "calculate_emissions",
            "params": {"suppliers_per_partition": 10, "delay_ms": 40},
        }
    task = SwarmTask(
        objective="Calculate supplier emissions",
        agents_required=len(agents),
        agents=agents,
        **data,  # type: ignore[arg-type]
        behavior=SwarmBehavior.FORAGING,
        max_batch=2,
        heartbeat_timeout_ms=1000,
        agent_timeout_ms=1500,
        timeout_ms=60_000,
    )
    try:
        async with build_worker(temporal_client, settings):
            handle = await swarm.start(task)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:  # kill the second process once some partitions are done
                progress = await swarm.progress(task.swarm_id)
                if progress is not None and progress.completed >= 10:
                    break
                assert loop.time() < deadline, "the swarm made no progress"
                await asyncio.sleep(0.02)
            os.killpg(processes[1].pid, signal.SIGKILL)
            await processes[1].wait()
            result = await asyncio.wait_for(handle.result(), 60)
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
    counted = sum(a["partitions"] for a in result["agents"].values())
    reliability_figures.record(
        f"agent process killed mid-swarm ({source})",
        trials=60,
        faults=1,
        lost=max(0, 60 - result["partitions_completed"]),
        duplicated=max(0, counted - 60),
        note="partitions; the total matches the sequential sum",
    )
    assert progress.completed < 60, "the swarm finished before the kill"
    assert Decimal(result["result"]) == expected
    assert result["partitions_completed"] == 60
    assert sum(a["partitions"] for a in result["agents"].values()) == 60
    killed = agents[AGENTS_PER_PROCESS:]
    assert any(result["agents"][a]["failures"] for a in killed)
