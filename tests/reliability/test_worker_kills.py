"""kill -9 of the orchestration worker at random moments across 50 sagas, some of them failing
(one kill per wave of 10): every saga reaches the right end state, and no effect (step or
compensation) is applied twice.

The agent applies each effect through the idempotency ledger keyed by the call's idempotency
key; the test reads the ledger afterwards. Were a key not stable across a retry (or across the
worker's death), a step's effect would show up under two keys.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.ledger import ActionLedger
from orchestration import ActionContext, Agent, AgentDescriptor
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import AgentError, SagaError
from orchestration.core.settings import Settings
from orchestration.stack.processes import ManagedProcess
from orchestration.testing.ports import free_port
from tests.reliability.figures import Figures
from tests.reliability.scale import scaled
from tests.reliability.waves import run_in_waves
from tests.workers.test_saga_worker_restart import start_worker
from workflows.saga_models import SagaStep, SagaTransaction

pytestmark = pytest.mark.slow

SAGAS = scaled(50)
PER_WAVE = 10  # sagas started together; one kill lands while they run
STEPS = ("reserve", "calculate", "report")


def failing(n: int) -> bool:
    return n % 5 == 0  # every fifth saga fails at its last step and compensates


async def test_sagas_survive_repeated_worker_kills_with_every_effect_applied_once(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path, reliability_figures: Figures
) -> None:
    client = temporal_dev_env.client
    address = client.service_client.config.target_host
    queue = f"kills-{unique}"
    ledger = await ActionLedger.open(f"sqlite+aiosqlite:///{tmp_path}/ledger.db")
    calls: Counter[str] = Counter()  # every invocation, retries included
    agent = Agent(AgentDescriptor(agent_id=f"kills-agent-{unique}", agent_type="Test"))

    async def effect(ctx: ActionContext) -> dict[str, str]:
        calls[ctx.idempotency_key] += 1
        await asyncio.sleep(0.1)  # long enough for kills to land mid-saga
        async with ledger.once(ctx.idempotency_key, agent_id=ctx.agent_id, action=ctx.action):
            pass
        return {"key": ctx.idempotency_key}

    @agent.action("apply")
    async def apply(data: dict[str, Any], ctx: ActionContext) -> dict[str, str]:
        if data.get("fail") and ctx.context.get("step") == "report":
            raise AgentError("the report cannot be generated (injected)", retriable=False)
        return await effect(ctx)

    @agent.action("undo")
    async def undo(data: dict[str, Any], ctx: ActionContext) -> dict[str, str]:
        return await effect(ctx)

    def saga(n: int) -> SagaTransaction:
        steps = [
            SagaStep(name, agent.agent_id, "apply", compensation="undo",
                     depends_on=[STEPS[i - 1]] if i else [])
            for i, name in enumerate(STEPS)
        ]  # fmt: skip
        return SagaTransaction(name="kills", transaction_id=f"kills-{unique}-{n}", steps=steps)

    rng = random.Random(7)
    port = free_port()
    worker: ManagedProcess = await start_worker(address, queue, tmp_path, port)
    settings = Settings(task_queue=queue)
    orchestrator = SagaOrchestrator(client=client, settings=settings)

    async def kill() -> None:
        nonlocal worker
        os.kill(worker.pid, signal.SIGKILL)  # no graceful shutdown
        await worker.wait()
        worker = await start_worker(address, queue, tmp_path, port)

    async def run(n: int) -> Any:
        return await orchestrator.execute(saga(n), {"fail": failing(n)})

    try:
        async with agent.worker(client):
            waves = await run_in_waves(
                SAGAS, PER_WAVE, run, kill, rng=rng, kill_within_s=(0.05, 0.3)
            )
        entries = await ledger.entries()
    finally:
        await worker.stop()
        await ledger.close()
    outcomes, kills = waves.outcomes, waves.kills

    applied = Counter(e.key for e in entries)
    by_saga = Counter(key.split("/")[0] for key in applied)
    expected = {f"kills-{unique}-{n}": 4 if failing(n) else 3 for n in range(SAGAS)}
    retried = sum(count - 1 for count in calls.values())
    reliability_figures.record(
        "orchestration worker kills (sagas)",
        trials=SAGAS,
        faults=kills,
        lost=sum(max(0, want - by_saga[saga]) for saga, want in expected.items()),
        duplicated=sum(max(0, by_saga[saga] - want) for saga, want in expected.items()),
        note=f"{waves.mid_run} kills mid-wave; {len(applied)} effects; {retried} repeated calls",
    )
    assert waves.mid_run >= kills // 2, "most kills should land while sagas run"
    for n, outcome in enumerate(outcomes):
        execution = await orchestrator.get_execution_status(f"kills-{unique}-{n}")
        if failing(n):
            assert isinstance(outcome, SagaError), outcome
            assert execution.state == "COMPENSATED", (n, execution.state)
            assert execution.compensated_steps == ["calculate", "reserve"]
        else:
            assert isinstance(outcome, dict), outcome
            assert execution.state == "COMPLETED", (n, execution.state)
    twice = {key: count for key, count in applied.items() if count > 1}
    assert twice == {}  # the ledger's key is unique anyway; a second row would have failed
    assert dict(by_saga) == expected  # 2 steps + 2 compensations, or 3 steps: one key each
    print(f"{SAGAS} sagas, {kills} worker kills, {len(applied)} effects applied once each, "
          f"{retried} repeated calls absorbed by the ledger")  # fmt: skip
