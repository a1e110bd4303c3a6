"""The Temporal dev server killed (SIGKILL) and restarted on its SQLite file while a saga, a
swarm and a pipeline run (``CHAOS_SCALE`` times in a row): all three finish, with the right
results."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from examples.swarm.agents import make_agents
from examples.swarm.suppliers import sequential_total
from orchestration import ActionContext, Agent, AgentDescriptor
from orchestration.clients.pipeline import Pipeline
from orchestration.clients.saga import SagaOrchestrator
from orchestration.clients.swarm import SwarmOrchestrator
from orchestration.core.connections import TemporalConfig
from orchestration.core.settings import Settings, SwarmConfig
from orchestration.core.temporal_client import connect
from orchestration.stack.commands import temporal_command
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import wait_for_port
from orchestration.testing.ports import free_ports
from swarm.scheduling import SwarmBehavior
from tests.reliability.figures import Figures
from tests.reliability.scale import scaled
from workers.orchestration_worker import build_worker
from workflows.pipeline_models import AgentRef, PipelineConfig, PipelineStage
from workflows.saga_models import SagaStep, SagaTransaction
from workflows.swarm_models import SourceRef, SwarmTask

pytestmark = pytest.mark.slow

DEADLINE_S = 180.0
RESTARTS = scaled(1)


async def start_temporal(settings: Settings, log_file: Path) -> ManagedProcess:
    server = await ManagedProcess.spawn("Temporal", temporal_command(settings), log_file=log_file)
    temporal = settings.temporal
    await wait_for_port("Temporal", temporal.host, temporal.port, timeout_s=60, process=server)
    return server


async def test_a_saga_a_swarm_and_a_pipeline_finish_across_a_temporal_restart(
    tmp_path: Path, unique: str, reliability_figures: Figures
) -> None:
    grpc, ui = free_ports(2)
    settings = Settings(
        state_dir=tmp_path,
        task_queue=f"restart-{unique}",
        temporal=TemporalConfig(address=f"127.0.0.1:{grpc}", ui_port=ui),
    )
    server = await start_temporal(settings, tmp_path / "temporal-1.log")
    release = asyncio.Event()
    held = asyncio.Event()
    agent = Agent(AgentDescriptor(agent_id=f"hold-{unique}", agent_type="Test"))

    holding: set[str] = set()

    @agent.action("hold")
    async def hold(data: Any, ctx: ActionContext) -> dict[str, Any]:
        holding.add(ctx.caller)
        if len(holding) == 2:  # the saga and the pipeline are both in the middle of a call
            held.set()
        await release.wait()  # until Temporal was killed and restarted
        return {"held": ctx.context.get("step", ctx.action)}

    swarm_agents = make_agents(0, 2, prefix=f"restart-{unique}")
    try:
        client = await connect(settings)
        async with contextlib.AsyncExitStack() as workers:
            await workers.enter_async_context(build_worker(client, settings))
            for a in (agent, *swarm_agents):
                await workers.enter_async_context(a.worker(client))
            saga = SagaOrchestrator(client=client, settings=settings)
            saga_run = asyncio.create_task(saga.execute(SagaTransaction(
                name="restart", transaction_id=f"restart-saga-{unique}",
                steps=[SagaStep("first", agent.agent_id, "hold"),
                       SagaStep("second", agent.agent_id, "hold", depends_on=["first"])],
            ), {}))  # fmt: skip
            held_call = [AgentRef(agent_id=agent.agent_id, action="hold")]
            pipeline = Pipeline(PipelineConfig(name="restart", stages=[
                PipelineStage(name="one", agents=held_call),
                PipelineStage(name="two", agents=held_call),
            ]), settings=settings, client=client)  # fmt: skip
            pipeline_run = asyncio.create_task(pipeline.execute({}))
            swarm = SwarmOrchestrator(client=client, settings=settings,
                                      config=SwarmConfig(min_agents=1))  # fmt: skip
            swarm_run = asyncio.create_task(swarm.deploy(SwarmTask(
                objective="restart", data_partitions=40, agents_required=2,
                agents=[a.agent_id for a in swarm_agents], behavior=SwarmBehavior.FORAGING,
                action="calculate_emissions", swarm_id=f"restart-swarm-{unique}",
                source=SourceRef(agent_id=swarm_agents[0].agent_id, action="list_partitions",
                                 params={"partitions": 40, "suppliers_per_partition": 10}),
                params={"suppliers_per_partition": 10, "delay_ms": 100},
            )))  # fmt: skip
            await asyncio.wait_for(held.wait(), DEADLINE_S)
            progress = None
            async with asyncio.timeout(DEADLINE_S):
                while progress is None:  # until the swarm has planned its partitions
                    progress = await swarm.progress(f"restart-swarm-{unique}")
                    await asyncio.sleep(0.05)
            assert progress.completed < progress.partitions  # all three are mid-run

            for n in range(RESTARTS):  # the held calls wait through every restart
                os.kill(server.pid, signal.SIGKILL)
                await server.wait()
                server = await start_temporal(settings, tmp_path / f"temporal-{n + 2}.log")
            release.set()

            execution_outputs, pipeline_execution, swarm_result = await asyncio.wait_for(
                asyncio.gather(saga_run, pipeline_run, swarm_run), DEADLINE_S
            )
    finally:
        release.set()
        await server.stop()

    total, exact = Decimal(swarm_result["result"]), sequential_total(40, 10)
    finished = [
        execution_outputs == {"first": {"held": "first"}, "second": {"held": "second"}},
        pipeline_execution.status == "COMPLETED",
        swarm_result["status"] == "completed" and total == exact,
    ]
    reliability_figures.record(
        "Temporal dev server SIGKILLed and restarted",
        trials=3,
        faults=RESTARTS,
        lost=finished.count(False),
        duplicated=int(total > exact),
        note="a saga, a pipeline and a 40-partition swarm, all mid-run",
    )
    assert execution_outputs == {"first": {"held": "first"}, "second": {"held": "second"}}
    assert pipeline_execution.status == "COMPLETED", pipeline_execution
    assert swarm_result["status"] == "completed"
    assert Decimal(swarm_result["result"]) == sequential_total(40, 10)
