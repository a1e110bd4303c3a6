"""kill -9 of the example CSRD agents' process at random moments across 50 CSRD sagas, once
per wave of 10.

The agents run as ``orchestration agent examples.csrd.agents:ALL_AGENTS`` in their own process,
and each action lingers after applying its effect (``latency_ms``), so kills land both before
an effect and after it but before the reply. A call lost with its process times out and is
retried on the restarted process; the example agents' idempotency ledger must turn a retry of
an applied effect into its first result. The test reads that ledger and the agents' files:
every saga ends in the right state, and every effect is applied exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.ledger import ActionLedger
from examples.csrd.agents import ALL_AGENTS, ReportRequest
from examples.csrd.saga import csrd_transaction
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import SagaError
from orchestration.core.retry import RetrySpec
from orchestration.core.settings import SagaConfig, Settings
from orchestration.stack.processes import ManagedProcess
from tests.reliability.figures import Figures
from tests.reliability.scale import scaled
from tests.reliability.service import child_env
from tests.reliability.waves import run_in_waves
from workers.orchestration_worker import build_worker
from workflows.saga_models import SagaTransaction

pytestmark = pytest.mark.slow

SAGAS = scaled(50)
PER_WAVE = 10  # sagas started together; one kill lands while they run
STEP_TIMEOUT_MS = 2_000  # how long a call lost with its process takes to be retried
RETRY = RetrySpec(maximum_attempts=20, initial_interval_ms=100, maximum_interval_ms=500)


def kind(n: int) -> str:
    return ("compensates", "recovers forward", "completes", "completes", "completes")[n % 5]


def request(n: int, unique: str, rng: random.Random) -> ReportRequest:
    return ReportRequest(
        company=f"Kills {unique} {n}",
        period="2026",
        facilities=2,
        inject_invalid_record=kind(n) == "compensates",
        publish_failures=2 if kind(n) == "recovers forward" else 0,
        latency_ms=rng.randint(50, 200),
    )


def transaction(n: int, unique: str) -> SagaTransaction:
    saga = csrd_transaction(f"agent-kills-{unique}-{n}")
    steps = [s.model_copy(update={"timeout_ms": STEP_TIMEOUT_MS, "retry_policy": RETRY})
             for s in saga.steps]  # fmt: skip
    return saga.model_copy(update={"steps": steps})


async def start_agents(env: dict[str, str], log: Path) -> ManagedProcess:
    ready = log.read_text().count("polling task queue") if log.exists() else 0
    process = await ManagedProcess.spawn(
        "csrd agents",
        [sys.executable, "-m", "orchestration.cli", "agent", "examples.csrd.agents:ALL_AGENTS"],
        log_file=log,
        env=env,
    )
    deadline = asyncio.get_running_loop().time() + 60
    while log.read_text().count("polling task queue") < ready + len(ALL_AGENTS):
        assert process.returncode is None, log.read_text()[-2000:]
        assert asyncio.get_running_loop().time() < deadline, log.read_text()[-2000:]
        await asyncio.sleep(0.05)
    return process


async def test_agent_kills_mid_call_apply_every_effect_once(
    temporal_client: Client, unique: str, tmp_path: Path, reliability_figures: Figures
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/ledger.db"
    env = child_env(
        tmp_path, temporal_client,
        DATABASE_URL=database_url, AGENT_REGISTER="false", LOG_LEVEL="INFO",
    )  # fmt: skip
    log = tmp_path / "agents.log"
    rng = random.Random(11)
    requests = [request(n, unique, rng) for n in range(SAGAS)]
    settings = Settings(task_queue=f"orch-{unique}")
    config = SagaConfig(compensation_timeout_ms=STEP_TIMEOUT_MS, compensation_retry=RETRY)
    orchestrator = SagaOrchestrator(client=temporal_client, settings=settings, config=config)
    agents = await start_agents(env, log)

    async def kill() -> None:
        nonlocal agents
        os.kill(agents.pid, signal.SIGKILL)  # mid-call: no reply, no cleanup
        await agents.wait()
        agents = await start_agents(env, log)

    async def saga(n: int) -> Any:
        return await orchestrator.execute(transaction(n, unique), requests[n].model_dump())

    try:
        async with build_worker(temporal_client, settings):
            waves = await run_in_waves(
                SAGAS, PER_WAVE, saga, kill, rng=rng, kill_within_s=(0.05, 0.5)
            )
    finally:
        await agents.stop()
    outcomes, kills = waves.outcomes, waves.kills
    async with await ActionLedger.open(database_url) as ledger:
        entries = await ledger.entries()

    applied = Counter(e.key for e in entries)
    expected: dict[str, int] = {}
    for n in range(SAGAS):
        steps = ("collect_data", "collect_data/compensate") if kind(n) == "compensates" else (
            "collect_data", "validate", "generate_report", "publish")  # fmt: skip
        expected.update({f"agent-kills-{unique}-{n}/{s}": 1 for s in steps})
    files = tmp_path / "csrd"
    published = {p.stem for p in (files / "published").glob("*.json")}
    collected = {p.stem for p in (files / "data").glob("*.json")}
    lost = len(set(expected) - set(applied))
    lost += sum(1 for n in range(SAGAS) if kind(n) != "compensates"
                and requests[n].key not in published)  # fmt: skip
    duplicated = sum(count - 1 for count in applied.values())
    duplicated += len(set(applied) - set(expected))  # an effect under a second key
    replies = log.read_text().count("already applied; returned its first result")
    reliability_figures.record(
        "agent process kills (CSRD sagas)",
        trials=SAGAS,
        faults=kills,
        lost=lost,
        duplicated=duplicated,
        note=f"{waves.mid_run} kills mid-wave; {len(applied)} effects; "
        f"{replies} retries answered from the ledger",
    )

    assert waves.mid_run >= kills // 2, "most kills should land while sagas run"
    assert replies >= 1, "no kill landed between an effect and its reply"
    for n, outcome in enumerate(outcomes):
        execution = await orchestrator.get_execution_status(f"agent-kills-{unique}-{n}")
        if kind(n) == "compensates":
            assert isinstance(outcome, SagaError), outcome
            assert execution.state == "COMPENSATED", (n, execution.state)
            assert execution.compensated_steps == ["collect_data"]
            assert requests[n].key not in collected  # its data was deleted by the compensation
        else:
            assert isinstance(outcome, dict), (n, outcome)
            assert execution.state == "COMPLETED", (n, execution.state)
    assert (lost, duplicated) == (0, 0)
    assert dict(applied) == expected
    print(f"{SAGAS} CSRD sagas, {kills} agent kills, {len(applied)} effects applied once each, "
          f"{replies} retried calls answered from the ledger")  # fmt: skip
