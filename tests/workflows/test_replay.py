"""Replay: our workflows must stay deterministic against recorded histories.

``histories/*.json`` were recorded from real runs; a change that breaks their replay would
break workflows already running in production. Record a new one when the workflow changes
on purpose (``python tests/workflows/record_history.py``) and keep the old ones.

``saga_uncompensated`` (a compensation fails), ``saga_stuck`` (a step fails for good after
the pivot) and ``pipeline_failed`` (a FAIL_FAST stage fails) were recorded with the code
before sagas and pipelines could park (commit 97b88ec and before): they end FAILED, as runs
started before the ``saga-repair`` and ``pipeline-repair`` patches still do when replayed.
No recorder writes them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.routing import CapabilityRouter
from activities.transforms import run_transform
from orchestration import ActionContext, Agent, AgentDescriptor
from orchestration.core.retry import RetrySpec
from orchestration.core.settings import RouteConfig, SagaConfig, Settings
from orchestration.core.temporal_client import DATA_CONVERTER
from registry.local_registry import LocalAgentRegistry
from tests.workflows.saga_support import activity_cancel_requested
from workers.orchestration_worker import WORKFLOWS
from workflows.agent_task import AgentTaskWorkflow
from workflows.models import AgentTaskInput
from workflows.operations_models import Resolution
from workflows.pipeline import PipelineWorkflow
from workflows.pipeline_models import (
    AgentRef,
    ExecutionMode,
    PipelineConfig,
    PipelineInput,
    PipelineStage,
    TransformRef,
)
from workflows.saga import SagaWorkflow
from workflows.saga_models import (
    Approval,
    ApprovalDecision,
    SagaInput,
    SagaStep,
    SagaTransaction,
)
from workflows.swarm import SwarmWorkflow
from workflows.swarm_models import SwarmInput, SwarmTask

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def replayer() -> Replayer:
    return Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER)


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_histories_replay_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_every_workflow_has_recorded_histories() -> None:
    recorded = {path.stem.rsplit("_", 1)[0] for path in HISTORIES}
    assert recorded == {"agent_task", "saga", "swarm", "pipeline"}


async def _until(handle: Any, holds: Any, query: Any = SagaWorkflow.status) -> None:
    """Query the run's status until ``holds`` is true of it (at most 60 s)."""
    async with asyncio.timeout(60):
        while True:
            if holds(await handle.query(query)):
                return
            await asyncio.sleep(0.02)


async def record(client: Client, workflow_id: str, data: object) -> WorkflowHistory:
    """Run one AgentTaskWorkflow against a fresh agent and return its history."""
    agent = Agent(AgentDescriptor(agent_id=f"replay-{workflow_id}", agent_type="Replay"))

    @agent.action("greet")
    async def greet(data: dict[str, str], ctx: ActionContext) -> dict[str, str]:
        if "name" not in data:
            raise ValueError("name is required")
        return {"greeting": f"hello {data['name']}"}

    queue = f"orch-{workflow_id}"
    async with (
        agent.worker(client),
        Worker(client, task_queue=queue, workflows=[AgentTaskWorkflow]),
    ):
        handle = await client.start_workflow(
            AgentTaskWorkflow.run,
            AgentTaskInput(
                agent_id=agent.agent_id,
                action="greet",
                data=data,
                retry={"maximum_attempts": 2, "initial_interval_ms": 10},
            ),
            id=workflow_id,
            task_queue=queue,
        )
        with contextlib.suppress(WorkflowFailureError):  # failed runs are recorded too
            await handle.result()
    return await handle.fetch_history()


async def test_a_fresh_history_replays(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str
) -> None:
    history = await record(temporal_time_skipping_env.client, f"replay-{unique}", {"name": "x"})
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def record_saga(client: Client, workflow_id: str, fail: str | None) -> WorkflowHistory:
    """Run a diamond saga (a -> b, c -> d); ``fail`` names a step that always fails."""
    agent = Agent(AgentDescriptor(agent_id=f"replay-{workflow_id}", agent_type="Replay"))

    @agent.action("do")
    async def do(data: dict[str, str | None], ctx: ActionContext) -> str:
        if ctx.context["step"] == data["fail"]:
            raise ApplicationError("injected failure", non_retryable=True)
        return str(ctx.context["step"])

    @agent.action("undo")
    async def undo(data: dict[str, str | None], ctx: ActionContext) -> None:
        return None

    steps = [
        SagaStep("a", agent.agent_id, "do", compensation="undo"),
        SagaStep("b", agent.agent_id, "do", compensation="undo", depends_on=["a"]),
        SagaStep("c", agent.agent_id, "do", compensation="undo", depends_on=["a"]),
        SagaStep("d", agent.agent_id, "do", compensation="undo", depends_on=["b", "c"]),
    ]
    saga = SagaInput(
        transaction=SagaTransaction(name="replay", steps=steps, transaction_id=workflow_id),
        initial_data={"fail": fail},
    )
    queue = f"orch-{workflow_id}"
    async with agent.worker(client), Worker(client, task_queue=queue, workflows=[SagaWorkflow]):
        handle = await client.start_workflow(
            SagaWorkflow.run, saga, id=workflow_id, task_queue=queue
        )
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 120)
    return await handle.fetch_history()


async def test_a_fresh_saga_history_replays(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str
) -> None:
    history = await record_saga(temporal_time_skipping_env.client, f"replay-{unique}", "d")
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def record_routed_saga(client: Client, workflow_id: str) -> WorkflowHistory:
    """A saga whose step ``a`` is routed by capability: first to a registered agent nobody
    runs (it is passed over once its pick-up bound passes), then to one that completes it;
    step ``b`` then fails for good and ``a`` is compensated on the agent that did it."""
    agent = Agent(AgentDescriptor(agent_id=f"replay-{workflow_id}", agent_type="Replay"))

    @agent.action("do")
    async def do(data: None, ctx: ActionContext) -> str:
        if ctx.context["step"] == "b":
            raise ApplicationError("injected failure", non_retryable=True)
        return str(ctx.context["step"])

    @agent.action("undo")
    async def undo(data: None, ctx: ActionContext) -> None:
        return None

    queue = f"orch-{workflow_id}"
    with tempfile.TemporaryDirectory() as state:
        registry = LocalAgentRegistry(f"sqlite+aiosqlite:///{state}/registry.db")
        await registry.initialize()
        try:
            for agent_id, location in ((f"gone-{workflow_id}", "eu"), (agent.agent_id, "us")):
                await registry.register(
                    AgentDescriptor(
                        agent_id=agent_id,
                        agent_type="Replay",
                        capabilities=["replay"],
                        metadata={"location": location},
                    )
                )
            steps = [
                SagaStep("a", capability="replay", action="do", compensation="undo", location="eu"),
                SagaStep("b", agent.agent_id, "do", depends_on=["a"]),
            ]
            saga = SagaInput(
                transaction=SagaTransaction(name="replay", steps=steps, transaction_id=workflow_id),
                routing=RouteConfig(start_timeout_ms=1000),
            )
            router = CapabilityRouter(Settings(task_queue=queue), registry)
            async with (
                agent.worker(client),
                Worker(
                    client,
                    task_queue=queue,
                    workflows=[SagaWorkflow],
                    activities=[router.activity()],
                ),
            ):
                handle = await client.start_workflow(
                    SagaWorkflow.run, saga, id=workflow_id, task_queue=queue
                )
                with contextlib.suppress(WorkflowFailureError):
                    await asyncio.wait_for(handle.result(), 120)
        finally:
            await registry.close()
    return await handle.fetch_history()


async def test_a_fresh_routed_saga_history_replays(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str
) -> None:
    history = await record_routed_saga(temporal_time_skipping_env.client, f"replay-{unique}")
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
    routed = [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    types = [e.activity_task_scheduled_event_attributes.activity_type.name for e in routed]
    assert types == ["do", "do", "do", "undo"]  # routed twice, by local activities:
    markers = [e.marker_recorded_event_attributes.marker_name for e in history.events]
    assert markers.count("core_local_activity") == 2


async def record_cancelled_saga(client: Client, workflow_id: str) -> WorkflowHistory:
    """Cancel a saga while its agent (which never heartbeats) runs step b; b completes after
    the cancellation, and a and b are compensated."""
    agent = Agent(AgentDescriptor(agent_id=f"replay-{workflow_id}", agent_type="Replay"))
    started, release = asyncio.Event(), asyncio.Event()

    @agent.action("do")
    async def do(data: None, ctx: ActionContext) -> str:
        if ctx.context["step"] == "b":
            started.set()
            await release.wait()
        return str(ctx.context["step"])

    @agent.action("undo")
    async def undo(data: None, ctx: ActionContext) -> None:
        return None

    steps = [
        SagaStep("a", agent.agent_id, "do", compensation="undo"),
        SagaStep("b", agent.agent_id, "do", compensation="undo", depends_on=["a"]),
    ]
    saga = SagaInput(
        transaction=SagaTransaction(name="replay", steps=steps, transaction_id=workflow_id)
    )
    queue = f"orch-{workflow_id}"
    async with agent.worker(client), Worker(client, task_queue=queue, workflows=[SagaWorkflow]):
        handle = await client.start_workflow(
            SagaWorkflow.run, saga, id=workflow_id, task_queue=queue
        )
        await asyncio.wait_for(started.wait(), 60)
        await handle.cancel()
        await activity_cancel_requested(handle)
        release.set()
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 120)
    return await handle.fetch_history()


async def test_a_fresh_cancelled_saga_history_replays(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str
) -> None:
    client = temporal_time_skipping_env.client
    history = await record_cancelled_saga(client, f"replay-cancel-{unique}")
    undone = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ].count("undo")
    assert undone == 2  # b completed after the cancellation, and was undone with a
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def record_swarm(client: Client, workflow_id: str, behavior: str) -> WorkflowHistory:
    """Run a small swarm: 3 agents, one always failing, 12 partitions of inline items."""
    agents = [
        Agent(AgentDescriptor(agent_id=f"replay-{workflow_id}-{n}", agent_type="Replay"))
        for n in range(3)
    ]
    for agent in agents:

        @agent.action("add")
        async def add(data: dict[str, object], ctx: ActionContext) -> dict[str, int]:
            if ctx.agent_id.endswith("-2"):
                raise ValueError("injected failure")
            items = data["items"]
            assert isinstance(items, list)
            return {"value": sum(int(i) for i in items)}

    swarm = SwarmInput(
        task=SwarmTask(
            objective="replay",
            data_partitions=12,
            agents_required=3,
            agents=[a.agent_id for a in agents],
            action="add",
            items=list(range(36)),
            behavior=behavior,
            max_batch=2,
            swarm_id=workflow_id,
        )
    )
    queue = f"orch-{workflow_id}"
    async with contextlib.AsyncExitStack() as stack:
        for agent in agents:
            await stack.enter_async_context(agent.worker(client))
        await stack.enter_async_context(Worker(client, task_queue=queue, workflows=[SwarmWorkflow]))
        handle = await client.start_workflow(
            SwarmWorkflow.run, swarm, id=workflow_id, task_queue=queue
        )
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 120)
    return await handle.fetch_history()


@pytest.mark.parametrize(
    "behavior", ["swarming", "migrating", "dispersing", "foraging", "clustering", "flocking"]
)
async def test_a_fresh_swarm_history_replays(
    temporal_dev_env: WorkflowEnvironment, unique: str, behavior: str
) -> None:
    # On the dev server: in CI the time-skipping test server stopped answering twice during
    # the SWARMING run (backup copies cancelled, review timers); production runs real Temporal.
    history = await record_swarm(temporal_dev_env.client, f"replay-{unique}-{behavior}", behavior)
    assert len(history.events) > 20  # rounds of assignments, not a trivial history
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def record_pipeline(client: Client, workflow_id: str, fail: bool) -> WorkflowHistory:
    """Run a pipeline through every mode, a transform and a skipped stage; with ``fail`` a
    stage then fails for good and FAIL_FAST parks the pipeline, and an operator skips the
    stage. (``pipeline_failed.json`` was recorded before parking existed: FAIL_FAST failed
    the pipeline, and the last stage never ran.)"""
    agent = Agent(AgentDescriptor(agent_id=f"replay-{workflow_id}", agent_type="Replay"))

    @agent.action("items")
    async def items(data: dict[str, int], ctx: ActionContext) -> list[int]:
        return list(range(data["n"]))

    @agent.action("add")
    async def add(data: dict[str, list[int]], ctx: ActionContext) -> dict[str, int]:
        return {"value": sum(data["items"])}

    @agent.action("inc")
    async def inc(data: int, ctx: ActionContext) -> int:
        return data + 1

    @agent.action("nest")
    async def nest(data: object, ctx: ActionContext) -> dict[str, object]:
        return {"result": {"value": data}}

    @agent.action("fail")
    async def fail_action(data: object, ctx: ActionContext) -> None:
        raise ApplicationError("injected failure", non_retryable=True)

    def ref(action: str, condition: str | None = None) -> AgentRef:
        return AgentRef(agent_id=agent.agent_id, action=action, condition=condition)

    retry = RetrySpec(maximum_attempts=2, initial_interval_ms=1, maximum_interval_ms=1)
    mode = ExecutionMode
    stages = [
        PipelineStage(name="intake", agents=[ref("items")]),
        PipelineStage(name="split", agents=[ref("add"), ref("add")], mode=mode.MAP_REDUCE,
                      reducer="sum"),
        PipelineStage(name="route", agents=[ref("nest", "input > 100"), ref("inc")],
                      mode=mode.CONDITIONAL),
        PipelineStage(name="loop", agents=[ref("inc")], mode=mode.LOOP, until="output >= 40"),
        PipelineStage(name="gated", agents=[ref("fail")], conditions=["input < 0"]),
        *([PipelineStage(name="broken", agents=[ref("fail")])] if fail else []),
        PipelineStage(name="fan", agents=[ref("inc"), ref("nest")], mode=mode.PARALLEL),
        PipelineStage(name="shape", agents=[ref("nest")],
                      transform=TransformRef(name="pick", params={"field": "result.value"})),
    ]  # fmt: skip
    for stage in stages:
        stage.retry_policy = retry
    pipeline = PipelineInput(
        config=PipelineConfig(name="replay", stages=stages),
        input={"n": 9},
        execution_id=workflow_id,
    )
    queue = f"orch-{workflow_id}"
    async with (
        agent.worker(client),
        Worker(client, task_queue=queue, workflows=[PipelineWorkflow], activities=[run_transform]),
    ):
        handle = await client.start_workflow(
            PipelineWorkflow.run, pipeline, id=workflow_id, task_queue=queue
        )
        if fail:
            await _until(handle, lambda e: e is not None and e.incidents, PipelineWorkflow.status)
            skip = Resolution(step="broken", action="skip", by="ops", reason="by hand")
            await handle.execute_update(PipelineWorkflow.resolve, skip)
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 120)
    return await handle.fetch_history()


@pytest.mark.parametrize("fail", [False, True], ids=["completed", "parked"])
async def test_a_fresh_pipeline_history_replays(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str, fail: bool
) -> None:
    client = temporal_time_skipping_env.client
    history = await record_pipeline(client, f"replay-{unique}-{fail}", fail)
    description = await client.get_workflow_handle(f"replay-{unique}-{fail}").describe()
    assert description.status is not None
    assert description.status.name == "COMPLETED"
    accepted = "workflow_execution_update_accepted_event_attributes"
    assert any(e.HasField(accepted) for e in history.events) is fail  # the operator's skip
    assert len(history.events) > 30  # every stage's calls, not a trivial history
    replayed = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert replayed.replay_failure is None


async def record_unpolled(client: Client, workflow_id: str, kind: str) -> WorkflowHistory:
    """Run one workflow of ``kind`` (agent_task, saga or pipeline) whose call goes to an agent
    nobody runs: it fails when the call's pick-up bound (1 s, skipped by the time-skipping
    server) passes."""
    ghost = f"ghost-{workflow_id}"
    queue = f"orch-{workflow_id}"
    start: tuple[Any, Any]
    if kind == "agent_task":
        task = AgentTaskInput(agent_id=ghost, action="greet", start_timeout_ms=1_000)
        start = (AgentTaskWorkflow.run, task)
    elif kind == "saga":
        step = SagaStep("only", ghost, "do", compensation="undo")
        config = SagaConfig(step_start_timeout_ms=1_000)
        saga = SagaInput(transaction=SagaTransaction(name="unpolled", steps=[step]), config=config)
        start = (SagaWorkflow.run, saga)
    else:
        stage = PipelineStage(name="only", agents=[AgentRef(agent_id=ghost, action="do")])
        config_ = PipelineConfig(name="unpolled", stages=[stage], stage_start_timeout_ms=1_000)
        start = (PipelineWorkflow.run, PipelineInput(config=config_, execution_id=workflow_id))
    async with Worker(client, task_queue=queue, workflows=list(WORKFLOWS)):
        handle = await client.start_workflow(*start, id=workflow_id, task_queue=queue)
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)
    return await handle.fetch_history()


@pytest.mark.parametrize("kind", ["agent_task", "saga", "pipeline"])
async def test_a_fresh_history_of_a_call_nobody_picks_up_replays(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str, kind: str
) -> None:
    history = await record_unpolled(temporal_time_skipping_env.client, f"unpolled-{unique}", kind)
    replayed = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert replayed.replay_failure is None


async def record_operated_saga(client: Client, workflow_id: str, path: str) -> WorkflowHistory:
    """A saga people act on. ``approved``: a sign-off approved, then a step after the pivot
    fails for good, parks, and an operator's retry (with new data) succeeds. ``rejected``: the
    sign-off is rejected, the compensation of ``a`` fails, parks, and is marked compensated."""
    agent = Agent(AgentDescriptor(agent_id=f"replay-{workflow_id}", agent_type="Replay"))

    @agent.action("do")
    async def do(data: dict[str, bool], ctx: ActionContext) -> str:
        if ctx.context["step"] == "after" and not data.get("fixed"):
            raise ApplicationError("injected failure", non_retryable=True)
        return str(ctx.context["step"])

    @agent.action("undo")
    async def undo(data: object, ctx: ActionContext) -> None:
        raise ApplicationError("cannot undo", non_retryable=True)

    steps = [
        SagaStep("a", agent.agent_id, "do", compensation="undo"),
        SagaStep("sign_off", approval=Approval(approvers=["cfo"]), depends_on=["a"]),
        SagaStep("pivot", agent.agent_id, "do", is_pivot=True, depends_on=["sign_off"]),
        SagaStep("after", agent.agent_id, "do", depends_on=["pivot"]),
    ]
    saga = SagaInput(
        transaction=SagaTransaction(name="replay", steps=steps, transaction_id=workflow_id),
        initial_data={"fixed": False},
        config=SagaConfig(compensation_retry=RetrySpec(maximum_attempts=1)),
    )
    queue = f"orch-{workflow_id}"
    async with agent.worker(client), Worker(client, task_queue=queue, workflows=[SagaWorkflow]):
        handle = await client.start_workflow(
            SagaWorkflow.run, saga, id=workflow_id, task_queue=queue
        )
        await _until(handle, lambda e: e is not None and e.pending_approvals)
        decision = ApprovalDecision(step="sign_off", approver="cfo", note="reviewed")
        if path == "approved":
            await handle.execute_update(SagaWorkflow.approve, decision)
            await _until(handle, lambda e: e.incidents)
            fix = Resolution(
                step="after", action="retry", by="ops", reason="fixed", data={"fixed": True}
            )
            await handle.execute_update(SagaWorkflow.resolve, fix)
        else:
            await handle.execute_update(SagaWorkflow.reject, decision)
            await _until(handle, lambda e: e.incidents)
            done = Resolution(step="a", action="mark_compensated", by="ops", reason="by hand")
            await handle.execute_update(SagaWorkflow.resolve, done)
        with contextlib.suppress(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 120)
    return await handle.fetch_history()


@pytest.mark.parametrize("path", ["approved", "rejected"])
async def test_a_fresh_history_of_a_saga_people_act_on_replays(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str, path: str
) -> None:
    client = temporal_time_skipping_env.client
    history = await record_operated_saga(client, f"operated-{unique}-{path}", path)
    updates = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(updates) == 2  # the decision and the resolution
    description = await client.get_workflow_handle(f"operated-{unique}-{path}").describe()
    assert description.status is not None
    assert description.status.name == ("COMPLETED" if path == "approved" else "FAILED")
    replayed = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert replayed.replay_failure is None
