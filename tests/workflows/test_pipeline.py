"""PipelineWorkflow end to end: the five modes, conditions, error handling, transforms,
validation, status, the global timeout and metrics, with in-process agents on a real Temporal
dev server (the time-skipping server for the timeout)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pydantic
import pytest
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from examples.pipeline.pipeline import emissions_pipeline
from examples.swarm.suppliers import sequential_total
from orchestration import Pipeline
from orchestration.core.exceptions import PipelineError, RequestRefusedError, ValidationError
from orchestration.core.retry import RetrySpec
from orchestration.core.settings import Settings
from tests.workflows.pipeline_support import (
    DEADLINE_S,
    StepAgent,
    config,
    running,
    running_example,
    stage,
)
from workflows.models import ActionRequest
from workflows.pipeline_models import (
    AgentRef,
    ErrorHandling,
    ExecutionMode,
    PipelineConfig,
    PipelineStatus,
    StageStatus,
    TransformRef,
)

SEQ, PAR, COND, LOOP, MAP = (
    ExecutionMode.SEQUENTIAL,
    ExecutionMode.PARALLEL,
    ExecutionMode.CONDITIONAL,
    ExecutionMode.LOOP,
    ExecutionMode.MAP_REDUCE,
)


def agents(unique: str, *names: str, **options: Any) -> list[StepAgent]:
    return [StepAgent(f"{unique}-{name}", **options) for name in names]


# -- the modes --------------------------------------------------------------------------------


async def test_sequential_agents_and_stages_chain_their_outputs(
    temporal_client: Client, unique: str
) -> None:
    a, b = agents(unique, "a", "b")
    pipeline_config = config(
        stage("first", a.ref("inc"), b.ref("double"), a.ref("inc")),
        stage("second", b.ref("double")),
    )
    async with running(temporal_client, unique, a, b) as settings:
        pipeline = Pipeline(pipeline_config, settings=settings, client=temporal_client)
        execution = await pipeline.execute(3, execution_id=f"seq-{unique}")
    assert execution.status is PipelineStatus.COMPLETED
    assert execution.output == 18  # ((3 + 1) * 2 + 1) * 2
    assert execution.stage("first").output == 9
    assert execution.stage("first").calls == 3
    assert [(c.action, c.data) for c in a.calls] == [("inc", 3), ("inc", 8)]
    assert [(c.action, c.data) for c in b.calls] == [("double", 4), ("double", 9)]
    assert a.calls[1].ctx.idempotency_key == f"seq-{unique}/first/0/2"
    assert a.calls[1].ctx.context == {"stage": "first", "iteration": 0, "call": 2}
    assert all(s.duration_ms is not None for s in execution.stages)


async def test_parallel_agents_run_at_once_and_the_output_maps_each_agent(
    temporal_client: Client, unique: str
) -> None:
    # "meet" returns only once all three calls are running: one after the other would fail.
    pool = agents(unique, "a", "b", "c", barrier=asyncio.Barrier(3))
    a = pool[0]
    pipeline_config = config(
        stage("fan_out", *(p.ref("meet") for p in pool), mode=PAR),
        stage("twice", a.ref("tag"), a.ref("nested"), mode=PAR),
    )
    async with running(temporal_client, unique, *pool) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute({"x": 1})
    assert execution.status is PipelineStatus.COMPLETED, execution.errors
    fan_out = execution.stage("fan_out").output
    assert fan_out == {p.agent_id: {"agent": p.agent_id, "input": {"x": 1}} for p in pool}
    # The same agent twice: keyed agent.action; both got the previous stage's output.
    assert execution.output == {
        f"{a.agent_id}.tag": {"agent": a.agent_id, "input": fan_out},
        f"{a.agent_id}.nested": {"result": {"value": fan_out}},
    }


async def test_conditional_takes_the_first_branch_that_holds_or_skips_the_stage(
    temporal_client: Client, unique: str
) -> None:
    a, b, c = agents(unique, "a", "b", "c")
    branches = [a.ref("tag", "input > 10"), b.ref("tag", "input > 5"), c.ref("tag")]
    with_default = config(stage("route", *branches, mode=COND))
    without_default = config(stage("route", *branches[:2], mode=COND), stage("after", c.ref("inc")))
    async with running(temporal_client, unique, a, b, c) as settings:
        chosen = {}
        for value in (20, 7, 1):
            execution = await Pipeline(
                with_default, settings=settings, client=temporal_client
            ).execute(value)
            chosen[value] = execution.output["agent"]
        skipped = await Pipeline(
            without_default, settings=settings, client=temporal_client
        ).execute(1)
    assert chosen == {20: a.agent_id, 7: b.agent_id, 1: c.agent_id}
    route = skipped.stage("route")
    assert (route.status, route.reason, route.calls) == (
        StageStatus.SKIPPED,
        "no branch's condition holds",
        0,
    )
    assert skipped.status is PipelineStatus.COMPLETED
    assert skipped.output == 2  # the skipped stage passed its input on
    assert len(a.calls) == len(b.calls) == 1


async def test_loop_runs_until_the_condition_holds_or_max_iterations(
    temporal_client: Client, unique: str
) -> None:
    (a,) = agents(unique, "a")
    pipeline_config = config(
        stage("until", a.ref("inc"), mode=LOOP, until="output >= 5"),
        stage("capped", a.ref("inc"), a.ref("double"), mode=LOOP, until="output > 1000",
              max_iterations=3),
    )  # fmt: skip
    async with running(temporal_client, unique, a) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute(0)
    until, capped = execution.stage("until"), execution.stage("capped")
    assert (until.output, until.iterations, until.calls) == (5, 5, 5)
    assert (capped.output, capped.iterations, capped.calls) == (54, 3, 6)  # 5→12→26→54
    assert execution.output == 54
    assert [c.ctx.context["iteration"] for c in a.calls_of("double")] == [0, 1, 2]


async def test_map_reduce_deals_chunks_round_robin_and_an_agent_reduces_them_in_order(
    temporal_client: Client, unique: str
) -> None:
    a, b, r = agents(unique, "a", "b", "reducer")
    pipeline_config = config(
        stage("split", a.ref("sum_items"), b.ref("sum_items"), mode=MAP, chunk_size=3,
              reducer=f"agent:{r.agent_id}.reduce"),
    )  # fmt: skip
    async with running(temporal_client, unique, a, b, r) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute(list(range(10)))
    # chunks of 3 dealt round robin: a gets chunks 0 and 2, b chunks 1 and 3
    assert sorted((c.data["chunk"], c.data["items"]) for c in a.calls) == [
        (0, [0, 1, 2]),
        (2, [6, 7, 8]),
    ]
    assert sorted((c.data["chunk"], c.data["items"]) for c in b.calls) == [(1, [3, 4, 5]), (3, [9])]
    assert {c.data["of"] for c in a.calls + b.calls} == {4}
    [reduce_call] = r.calls
    assert [p["chunk"] for p in reduce_call.data["partials"]] == [0, 1, 2, 3]
    assert execution.output == {"total": 45, "chunks": [0, 1, 2, 3]}
    assert execution.stage("split").calls == 5


async def test_map_reduce_refuses_a_value_that_is_not_a_list(
    temporal_client: Client, unique: str
) -> None:
    (a,) = agents(unique, "a")
    pipeline_config = config(stage("split", a.ref("sum_items"), mode=MAP, reducer="sum"))
    async with running(temporal_client, unique, a) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute(7)
    assert execution.status is PipelineStatus.NEEDS_INTERVENTION  # FAIL_FAST parks it
    assert execution.failed_stage == "split"
    assert execution.stage("split").error == "MAP_REDUCE needs a list to split, got int"
    assert a.calls == []


# -- the example: map-reduce over suppliers, exact to the cent -------------------------------


@pytest.mark.parametrize(("threshold_kg", "verdict"), [(1_000_000, "accepted"), (1000, "flagged")])
async def test_the_example_pipeline_splits_the_suppliers_and_equals_the_sequential_total(
    temporal_client: Client, unique: str, threshold_kg: int, verdict: str
) -> None:
    execution_id = f"emissions-{unique}"
    async with running_example(temporal_client, unique) as (settings, example):
        pipeline = Pipeline(
            emissions_pipeline(example, threshold_kg=threshold_kg),
            settings=settings,
            client=temporal_client,
        )
        execution = await pipeline.execute(
            {"partitions": 4, "suppliers_per_partition": 25}, execution_id=execution_id
        )
        history = await temporal_client.get_workflow_handle(execution_id).fetch_history()
    expected = format(sequential_total(4, 25), "f")
    assert execution.status is PipelineStatus.COMPLETED, execution.errors
    assert execution.stage("calculate").output == expected
    assert execution.stage("validate").output["status"] == verdict
    assert execution.output == {
        "title": "Supplier emissions (scope 3, spend-based)",
        "total_kg": expected,
        "total_t": format((Decimal(expected) / 1000).quantize(Decimal("0.001")), "f"),
        "status": verdict,
        "needs_review": verdict == "flagged",
    }
    # What each calculator really got (read back from the durable history): one contiguous
    # chunk each, the chunks together being the intake's suppliers in order.
    suppliers = [s["supplier_id"] for s in execution.stage("intake").output["suppliers"]]
    chunks: dict[str, ActionRequest] = {}
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == "calculate":
                [request] = pydantic_data_converter.payload_converter.from_payloads(
                    list(scheduled.input.payloads), [ActionRequest]
                )
                chunks[scheduled.task_queue.name] = request
    assert sorted(chunks) == [c.agent_id for c in example.calculators]
    seen = []
    for n, calculator in enumerate(example.calculators):
        data = chunks[calculator.agent_id].data
        assert (data["chunk"], data["of"]) == (n, 3)
        seen += [item["supplier_id"] for item in data["items"]]
        assert len(data["items"]) == [34, 33, 33][n]
    assert seen == suppliers and len(suppliers) == 100


# -- conditions, errors, transforms -----------------------------------------------------------


async def test_a_stage_whose_conditions_are_false_is_skipped_and_passes_its_input_on(
    temporal_client: Client, unique: str
) -> None:
    a, gated = agents(unique, "a", "gated")
    pipeline_config = config(
        stage("first", a.ref("inc")),
        stage("gated", gated.ref("double"), conditions=["input > 100"]),
        stage("last", a.ref("inc"), conditions=["outputs['first'] == 2", "input == 2"]),
    )
    async with running(temporal_client, unique, a, gated) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute(1)
    skipped = execution.stage("gated")
    assert (skipped.status, skipped.reason) == (StageStatus.SKIPPED, "conditions are false")
    assert gated.calls == []
    assert execution.stage("last").status is StageStatus.COMPLETED
    assert (execution.status, execution.output) == (PipelineStatus.COMPLETED, 3)


@pytest.mark.parametrize("handling", list(ErrorHandling))
async def test_fail_fast_stops_at_the_failed_stage_and_continue_goes_on(
    temporal_client: Client, unique: str, handling: ErrorHandling
) -> None:
    a, broken = agents(unique, "a", "broken")
    pipeline_config = config(
        stage("first", a.ref("inc")),
        stage("broken", broken.ref("fail")),
        stage("after", a.ref("inc")),
        error_handling=handling,
    )
    async with running(temporal_client, unique, a, broken) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute(1)
    failed = execution.stage("broken")
    assert failed.status is StageStatus.FAILED
    assert failed.error is not None and "injected failure" in failed.error
    assert len(execution.errors) == 1 and "stage broken: " in execution.errors[0]
    after = execution.stage("after")
    if handling is ErrorHandling.FAIL_FAST:  # parked for an operator
        assert execution.status is PipelineStatus.NEEDS_INTERVENTION
        assert execution.failed_stage == "broken"
        [incident] = execution.incidents
        assert (incident.step, incident.kind, incident.actions) == (
            "broken",
            "step",
            ["retry", "skip"],
        )
        assert after.status is StageStatus.PENDING
        assert execution.output is None
        assert len(a.calls) == 1
    else:
        assert execution.status is PipelineStatus.COMPLETED_WITH_ERRORS
        assert execution.failed_stage is None
        assert (after.status, after.output) == (StageStatus.COMPLETED, 3)  # got first's output
        assert execution.output == 3


async def test_a_parked_pipeline_goes_on_when_an_operator_retries_or_skips_the_stage(
    temporal_client: Client, unique: str
) -> None:
    a, broken = agents(unique, "a", "broken")
    pipeline_config = config(
        stage("first", a.ref("inc")),
        stage("broken", broken.ref("fail")),
        stage("after", a.ref("inc")),
    )
    async with running(temporal_client, unique, a, broken) as settings:
        pipeline = Pipeline(pipeline_config, settings=settings, client=temporal_client)
        parked = await pipeline.execute(1)
        run = parked.execution_id
        with pytest.raises(RequestRefusedError, match="stage 'first' is not waiting"):
            await pipeline.resolve(run, "first", "retry", by="ops", reason="x")
        await pipeline.resolve(run, "broken", "retry", by="ops", reason="try again")
        again = await pipeline.execute(1, execution_id=run)  # attaches: parked again
        await pipeline.resolve(run, "broken", "skip", by="ops", reason="done by hand", data=10)
        done = await pipeline.execute(1, execution_id=run)
        with pytest.raises(RequestRefusedError, match="already ended"):
            await pipeline.resolve(run, "broken", "skip", by="ops", reason="again")

    assert parked.status is again.status is PipelineStatus.NEEDS_INTERVENTION
    assert len(broken.calls) == 2  # the operator's retry ran it once more
    assert broken.calls[0].ctx.idempotency_key == broken.calls[1].ctx.idempotency_key
    assert done.status is PipelineStatus.COMPLETED_WITH_ERRORS
    skipped = done.stage("broken")
    assert (skipped.status, skipped.reason) == (StageStatus.SKIPPED, "skipped by ops: done by hand")
    assert (done.stage("after").output, done.output) == (11, 11)  # after got the operator's 10
    assert [(i.action, i.reason) for i in done.interventions] == [
        ("retry", "try again"),
        ("skip", "done by hand"),
    ]
    assert done.incidents == [] and done.failed_stage is None


async def test_skip_on_error_records_the_error_and_completes(
    temporal_client: Client, unique: str
) -> None:
    a, broken = agents(unique, "a", "broken")
    pipeline_config = config(
        stage("first", a.ref("inc")),
        stage("optional", broken.ref("fail"), skip_on_error=True),
        stage("after", a.ref("inc")),
    )
    async with running(temporal_client, unique, a, broken) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute(1)
    optional = execution.stage("optional")
    assert (optional.status, optional.reason) == (StageStatus.SKIPPED, "failed; skip_on_error")
    assert optional.error is not None and "injected failure" in optional.error
    assert (execution.status, execution.errors, execution.output) == (
        PipelineStatus.COMPLETED,
        [],
        3,
    )


async def test_builtin_transforms_reshape_stage_outputs(
    temporal_client: Client, unique: str
) -> None:
    (a,) = agents(unique, "a")
    pipeline_config = config(
        stage("nested", a.ref("nested"),
              transform=TransformRef(name="pick", params={"field": "result.value"})),
        stage("rounded", transform=TransformRef(name="round", params={"digits": 1})),
    )  # fmt: skip
    async with running(temporal_client, unique, a) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute(3.14159)
    assert execution.stage("nested").output == 3.14159
    assert execution.stage("rounded").calls == 0  # a transform-only stage
    assert (execution.status, execution.output) == (PipelineStatus.COMPLETED, 3.1)


async def test_an_unknown_transform_fails_the_stage_naming_it(
    temporal_client: Client, unique: str
) -> None:
    (a,) = agents(unique, "a")
    pipeline_config = config(
        stage("shaped", a.ref("inc"), transform=TransformRef(name="no_such_transform")),
        stage("after", a.ref("inc")),
    )
    async with running(temporal_client, unique, a) as settings:
        execution = await Pipeline(
            pipeline_config, settings=settings, client=temporal_client
        ).execute(1)
    assert (execution.status, execution.failed_stage) == (
        PipelineStatus.NEEDS_INTERVENTION,
        "shaped",
    )
    error = execution.stage("shaped").error
    assert error is not None
    assert "transform 'no_such_transform': not registered on this worker" in error
    assert "pick" in error  # lists what is registered
    assert execution.stage("after").status is StageStatus.PENDING


# -- validation -------------------------------------------------------------------------------


def _valid() -> PipelineConfig:
    return config(
        stage("a", AgentRef(agent_id="agent-a", action="run")),
        stage("b", AgentRef(agent_id="agent-b", action="run"), mode=MAP, reducer="sum"),
    )


def _unsafe(c: PipelineConfig) -> None:
    c.stages[0].conditions = ["__import__('os')"]


def _unsafe_branch(c: PipelineConfig) -> None:
    c.stages[0].agents[0].condition = "input.__class__"


def _unknown_reducer(c: PipelineConfig) -> None:
    c.stages[1].reducer = "median"


def _duplicate(c: PipelineConfig) -> None:
    c.stages[1].name = "a"


def _unknown_mode(c: PipelineConfig) -> None:
    c.stages[0].mode = "shuffle"  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("mutate", "field", "problem"),
    [
        (_unsafe, "stages.0", "conditions[0]: condition \"__import__('os')\" refused"),
        (_unsafe_branch, "stages.0.agents.0", "condition: condition"),
        (_unknown_reducer, "stages.1", "unknown reducer 'median'"),
        (_duplicate, "config", "stage names repeated: a"),
        pytest.param(
            _unknown_mode,
            "stages.0.mode",
            "Input should be",
            marks=pytest.mark.filterwarnings("ignore:Pydantic serializer warnings"),
        ),
    ],
    ids=["unsafe_condition", "unsafe_branch", "unknown_reducer", "duplicate_names", "mode"],
)
def test_invalid_configs_are_refused_naming_the_field(
    mutate: Any, field: str, problem: str
) -> None:
    pipeline_config = _valid()
    mutate(pipeline_config)
    with pytest.raises(ValidationError) as caught:
        Pipeline(pipeline_config, settings=Settings())
    assert [e["field"] for e in caught.value.errors] == [field]
    assert problem in caught.value.errors[0]["problem"]
    assert "invalid pipeline" in str(caught.value)


def test_the_models_refuse_unsafe_conditions_when_built() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"conditions\[0\].*'__import__'"):
        stage("a", AgentRef(agent_id="x", action="y"), conditions=["__import__('os')"])
    with pytest.raises(pydantic.ValidationError, match="until belongs to LOOP stages"):
        stage("a", AgentRef(agent_id="x", action="y"), until="output > 1")
    with pytest.raises(pydantic.ValidationError, match=r"agent:<agent_id>\.<action>"):
        stage("a", AgentRef(agent_id="x", action="y"), mode=MAP, reducer="agent:nodot")


async def test_a_bad_execution_id_is_refused_before_anything_starts() -> None:
    pipeline = Pipeline(_valid(), settings=Settings())  # no client: it must not connect
    with pytest.raises(ValidationError) as caught:
        await pipeline.start(1, execution_id="no spaces allowed")
    assert [e["field"] for e in caught.value.errors] == ["execution_id"]


# -- status, timeout, metrics -----------------------------------------------------------------


async def test_execution_status_while_running_and_once_finished(
    temporal_client: Client, unique: str
) -> None:
    a, slow = agents(unique, "a", "slow")
    pipeline_config = config(
        stage("first", a.ref("inc")), stage("slow", slow.ref("block")), stage("last", a.ref("inc"))
    )
    execution_id = f"status-{unique}"
    async with running(temporal_client, unique, a, slow) as settings:
        pipeline = Pipeline(pipeline_config, settings=settings, client=temporal_client)
        handle = await pipeline.start(1, execution_id=execution_id)
        try:
            await asyncio.wait_for(slow.entered.wait(), DEADLINE_S)
            running_status = await pipeline.get_execution_status(execution_id)
        finally:
            slow.release.set()
        await asyncio.wait_for(handle.result(), DEADLINE_S)
        finished = await pipeline.get_execution_status(execution_id)
        with pytest.raises(PipelineError, match="no pipeline execution"):
            await pipeline.get_execution_status(f"missing-{unique}")
    assert running_status.status is PipelineStatus.RUNNING
    assert [s.status for s in running_status.stages] == [
        StageStatus.COMPLETED,
        StageStatus.RUNNING,
        StageStatus.PENDING,
    ]
    assert running_status.stage("first").output == 2
    assert finished.status is PipelineStatus.COMPLETED
    assert finished.output == 3
    assert finished.duration_ms is not None


@pytest.mark.parametrize("handling", list(ErrorHandling))
async def test_the_global_timeout_cancels_the_running_stage(
    temporal_time_skipping_env: WorkflowEnvironment, unique: str, handling: ErrorHandling
) -> None:
    # The slow stage's agent is not ready for hours: each attempt fails at once and the next
    # one is ten minutes away. The time-skipping server skips those waits (it cannot skip
    # while an action runs), so the one-hour global timeout passes in about a second.
    client = temporal_time_skipping_env.client
    slow, after = agents(unique, "slow", "after")
    every_ten_minutes = RetrySpec(
        maximum_attempts=0, initial_interval_ms=600_000, maximum_interval_ms=600_000
    )
    pipeline_config = config(
        stage("slow", slow.ref("retry"), retry_policy=every_ten_minutes),
        stage("after", after.ref("inc")),
        global_timeout_ms=3_600_000,
        error_handling=handling,
    )
    async with running(client, unique, slow, after) as settings:
        execution = await asyncio.wait_for(
            Pipeline(pipeline_config, settings=settings, client=client).execute(1), DEADLINE_S
        )
    assert execution.status is PipelineStatus.TIMED_OUT
    assert execution.errors[-1] == "global timeout of 3600000 ms passed"
    slow_stage = execution.stage("slow")
    assert (slow_stage.status, slow_stage.error) == (
        StageStatus.FAILED,
        "cancelled: global timeout",
    )
    assert 5 <= len(slow.calls) <= 7  # one attempt per ten minutes of skipped time
    assert execution.duration_ms is not None and execution.duration_ms >= 3_600_000
    assert execution.stage("after").status is StageStatus.PENDING
    assert after.calls == []


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_executions_by_status_and_time_stages(
    temporal_client: Client, unique: str
) -> None:
    a, broken = agents(unique, "a", "broken")
    ok_stage, bad_stage, skipped = f"ok-{unique}", f"bad-{unique}", f"skipped-{unique}"
    completed = config(stage(ok_stage, a.ref("inc")), stage(skipped, a.ref("inc"),
                                                          conditions=["input < 0"]))  # fmt: skip
    failed = config(
        stage(ok_stage, a.ref("inc")),
        stage(bad_stage, broken.ref("fail")),
        error_handling=ErrorHandling.CONTINUE,
    )
    statuses = ("COMPLETED", "COMPLETED_WITH_ERRORS")
    before = {
        status: _sample("pipeline_executions_total", {"status": status}) for status in statuses
    }
    async with running(temporal_client, unique, a, broken) as settings:
        for pipeline_config in (completed, completed, failed):
            await Pipeline(pipeline_config, settings=settings, client=temporal_client).execute(1)
    after = {
        status: _sample("pipeline_executions_total", {"status": status}) for status in statuses
    }
    assert [after[s] - before[s] for s in statuses] == [2, 1]
    count = "pipeline_stage_duration_ms_count"
    assert _sample(count, {"stage_name": ok_stage}) == 3
    assert _sample(count, {"stage_name": bad_stage}) == 1  # failed stages are timed too
    assert _sample(count, {"stage_name": skipped}) == 0
    assert _sample("pipeline_stage_duration_ms_sum", {"stage_name": ok_stage}) >= 0
