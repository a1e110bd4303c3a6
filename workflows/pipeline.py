"""``PipelineWorkflow``: stages run in order, each calling agents in its mode.

The modes, conditions, data flow and reducers are documented in ``workflows/pipeline_models.py``.
Every agent call goes through ``workflows/dispatch.py`` (the same executor sagas use: the
agent's task queue, the stage's retry policy and timeout, a stable idempotency key
``<execution id>/<stage>/<iteration>/<call>``, a Web UI summary naming the stage). Transforms
run as the ``orchestration.transform`` activity on this workflow's own task queue.

Errors: a stage fails when a call fails for good (after its retries), when a map-reduce input
is not a list, or when a reducer or transform refuses the value. With ``skip_on_error`` the
stage is recorded as skipped and the pipeline goes on; CONTINUE records the error and goes
on with the stage's input (the pipeline ends ``COMPLETED_WITH_ERRORS``); FAIL_FAST parks the
pipeline (``NEEDS_INTERVENTION``) until an operator's ``resolve`` update retries the stage
(the same idempotency keys; ``data`` as its input when given) or skips it (``data`` as its
output when given), and fails it (``PipelineFailed``, naming the stage) in runs started
before that existed (the ``pipeline-repair`` patch). Past ``global_timeout_ms`` the running
stage is cancelled and the pipeline fails ``TIMED_OUT``; time parked does not count.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    import workflows.metrics as metrics
    from orchestration.core.expressions import Condition, compile_condition
    from orchestration.core.routing import RoutingStrategy
    from orchestration.core.search_attributes import SCHEDULED_BY, orchestration_attributes
    from workflows.chunks import chunk_bounds
    from workflows.deadlines import sparing, wait_for_operator
    from workflows.dispatch import describe_failure, dispatch_action, unpolled, unpolled_message
    from workflows.inputs import checked_input
    from workflows.metrics import count, observe
    from workflows.models import ActionRequest
    from workflows.operations_models import (
        Incident,
        IncidentKind,
        InterventionRecord,
        Resolution,
        ResolveAction,
    )
    from workflows.pipeline_models import (
        CONDITION_NAMES,
        TRANSFORM_ACTIVITY,
        AgentRef,
        ErrorHandling,
        ExecutionMode,
        PipelineExecution,
        PipelineInput,
        PipelineStage,
        PipelineStatus,
        StageResult,
        StageStatus,
        TransformRequest,
    )
    from workflows.reducers import ReducerError, Reduction
    from workflows.routing import call_routed
    from workflows.updates import argument, refuse, resolution_refusal

__all__ = ["PIPELINE_FAILED", "PIPELINE_TIMED_OUT", "PipelineWorkflow"]

PIPELINE_FAILED = "PipelineFailed"
PIPELINE_TIMED_OUT = "PipelineTimedOut"
STAGE_START_TIMEOUT = "pipeline-stage-start-timeout"
"""Patch id: a call nobody picks up within ``stage_start_timeout_ms`` fails its stage."""
REPAIR = "pipeline-repair"
"""Patch id: a stage failed under FAIL_FAST parks the pipeline for ``resolve`` (and the
deadline does not run while parked) instead of failing it."""
_ENDED = frozenset(
    {
        PipelineStatus.COMPLETED,
        PipelineStatus.COMPLETED_WITH_ERRORS,
        PipelineStatus.FAILED,
        PipelineStatus.TIMED_OUT,
    }
)


_NOT_RUN = object()
"""A stage that produced no output (skipped, or failed and passed over)."""


class _StageError(Exception):
    """A stage cannot go on (bad map input, a refused reduction)."""


class _NoBranch(Exception):
    """A CONDITIONAL stage where no branch's condition holds."""


def _compiled(source: str) -> Condition:
    return compile_condition(source, allowed_names=CONDITION_NAMES)


@workflow.defn(name="PipelineWorkflow")
class PipelineWorkflow:
    def __init__(self) -> None:
        self._exec: PipelineExecution | None = None
        self._resolutions: dict[str, Resolution] = {}
        """Parked stage → the operator's resolution, until the stage acts on it."""

    @workflow.update
    def resolve(self, raw: Any) -> InterventionRecord:
        """Resolve the parked stage (``Resolution``): retry it or skip it."""
        assert self._exec is not None
        resolution = argument(Resolution, raw, "resolve")
        incident = next(i for i in self._exec.incidents if i.step == resolution.step)
        record = InterventionRecord.of(incident, resolution, workflow.now().isoformat())
        self._exec.interventions.append(record)
        self._resolutions[resolution.step] = resolution
        return record

    @resolve.validator
    def _resolvable(self, raw: Any) -> None:
        resolution = argument(Resolution, raw, "resolve")
        execution = self._exec
        if execution is None:
            refuse("the pipeline has not started running yet")
            return
        if execution.status in _ENDED:
            refuse(f"pipeline {execution.execution_id!r} already ended ({execution.status.value})")
        refuse(
            resolution_refusal(
                execution.incidents,
                resolution,
                resolved=self._resolutions,
                state=execution.status.value,
                part="stage",
            )
        )

    @workflow.run
    async def run(self, raw_pipeline: Any) -> PipelineExecution:
        pipeline = checked_input(PipelineInput, raw_pipeline)
        if workflow.info().typed_search_attributes.get(SCHEDULED_BY) is not None:
            # Each scheduled run is its own execution: its id (and idempotency keys) carry
            # the scheduled time, as the workflow id does.
            pipeline = pipeline.model_copy(update={"execution_id": workflow.info().workflow_id})
        config = pipeline.config
        execution = self._exec = PipelineExecution(
            execution_id=pipeline.execution_id,
            name=config.name,
            stages=[StageResult(name=stage.name) for stage in config.stages],
        )
        self._set_state(PipelineStatus.RUNNING)
        started = workflow.now()
        stages = asyncio.create_task(self._run_stages(pipeline))
        timeout = timedelta(milliseconds=config.global_timeout_ms)
        deadline = asyncio.create_task(
            sparing(timeout, lambda: bool(execution.incidents), summary="deadline")
            if workflow.patched(REPAIR)
            else workflow.sleep(timeout, summary="deadline")
        )
        await workflow.wait([stages, deadline], return_when=asyncio.FIRST_COMPLETED)
        if not stages.done():
            stages.cancel()
            await workflow.wait([stages])
            for stage in execution.stages:
                if stage.status is StageStatus.RUNNING:
                    stage.status, stage.error = StageStatus.FAILED, "cancelled: global timeout"
            execution.status = PipelineStatus.TIMED_OUT
            execution.errors.append(f"global timeout of {config.global_timeout_ms} ms passed")
        else:
            deadline.cancel()
            stages.result()  # re-raises an unexpected error (a bug): the workflow task fails
        execution.duration_ms = (workflow.now() - started).total_seconds() * 1000
        self._set_state(execution.status)
        count(metrics.pipeline_executions_total.labels(status=execution.status.value))
        if execution.status is PipelineStatus.FAILED:
            raise ApplicationError(
                f"pipeline {config.name} failed at stage {execution.failed_stage}: "
                f"{execution.errors[-1]}",
                execution,
                type=PIPELINE_FAILED,
                non_retryable=True,
            )
        if execution.status is PipelineStatus.TIMED_OUT:
            raise ApplicationError(
                f"pipeline {config.name} timed out after {config.global_timeout_ms} ms",
                execution,
                type=PIPELINE_TIMED_OUT,
                non_retryable=True,
            )
        return execution

    @workflow.query
    def status(self) -> PipelineExecution | None:
        """The execution so far (None before it started)."""
        return self._exec

    # -- stages ---------------------------------------------------------------------------

    async def _run_stages(self, pipeline: PipelineInput) -> None:
        execution = self._exec
        assert execution is not None
        config = pipeline.config
        value: Any = pipeline.input
        outputs: dict[str, Any] = {}
        for stage, result in zip(config.stages, execution.stages, strict=True):
            names = {"input": value, "outputs": outputs, "iteration": 0, "output": None}
            if not all(_compiled(c).evaluate(names) for c in stage.conditions):
                result.status, result.reason = StageStatus.SKIPPED, "conditions are false"
                continue
            while True:  # an operator's retry runs the stage again
                result.status = StageStatus.RUNNING
                workflow.set_current_details(f"stage {stage.name} ({stage.mode.value})")
                started = workflow.now()
                try:
                    output = await self._stage(pipeline, stage, value, outputs, result)
                    if stage.transform is not None:
                        output = await self._transform(stage, output)
                    break
                except _NoBranch:
                    result.status, result.reason = (
                        StageStatus.SKIPPED,
                        "no branch's condition holds",
                    )
                    output = _NOT_RUN
                    break
                except (ActivityError, _StageError) as exc:
                    if isinstance(exc, ActivityError) and isinstance(exc.cause, CancelledError):
                        # We cancelled the call (the global timeout): not a stage failure to
                        # handle (CONTINUE would run the next stages past the deadline).
                        raise asyncio.CancelledError from exc
                    error = describe_failure(exc)
                result.duration_ms = _ms_since(started)
                observe(metrics.pipeline_stage_duration_ms.labels(stage_name=stage.name),
                        result.duration_ms)  # fmt: skip
                if stage.skip_on_error:
                    result.status, result.error = StageStatus.SKIPPED, error
                    result.reason = "failed; skip_on_error"
                    output = _NOT_RUN
                    break
                result.status, result.error = StageStatus.FAILED, error
                execution.errors.append(f"stage {stage.name}: {error}")
                if config.error_handling is not ErrorHandling.FAIL_FAST:
                    output = _NOT_RUN
                    break
                if not workflow.patched(REPAIR):
                    execution.status, execution.failed_stage = PipelineStatus.FAILED, stage.name
                    return
                resolution = await self._park(stage, error)
                if resolution.action == ResolveAction.SKIP:
                    result.status = StageStatus.SKIPPED
                    result.reason = f"skipped by {resolution.by}: {resolution.reason}"
                    output = _NOT_RUN if resolution.data is None else resolution.data
                    break
                if resolution.data is not None:
                    value = resolution.data
            if output is _NOT_RUN:
                continue
            if result.status is StageStatus.SKIPPED:  # skipped by an operator, with an output
                outputs[stage.name] = value = output
                continue
            result.duration_ms = _ms_since(started)
            observe(metrics.pipeline_stage_duration_ms.labels(stage_name=stage.name),
                    result.duration_ms)  # fmt: skip
            result.status, result.output = StageStatus.COMPLETED, output
            outputs[stage.name] = output
            value = output
        execution.output = value
        execution.status = (
            PipelineStatus.COMPLETED_WITH_ERRORS if execution.errors else PipelineStatus.COMPLETED
        )

    async def _stage(
        self,
        pipeline: PipelineInput,
        stage: PipelineStage,
        value: Any,
        outputs: dict[str, Any],
        result: StageResult,
    ) -> Any:
        if not stage.agents:  # a transform-only stage
            return value
        mode = stage.mode
        if mode is ExecutionMode.SEQUENTIAL:
            result.iterations = 1
            return await self._in_turn(pipeline, stage, stage.agents, value, 0, result)
        if mode is ExecutionMode.PARALLEL:
            result.iterations = 1
            calls = [
                self._call(pipeline, stage, agent, value, 0, n, result)
                for n, agent in enumerate(stage.agents)
            ]
            answers = await _all(calls)
            repeated = len({a.name for a in stage.agents}) != len(stage.agents)
            return {
                (agent.key if repeated else agent.name): answer
                for agent, answer in zip(stage.agents, answers, strict=True)
            }
        if mode is ExecutionMode.CONDITIONAL:
            names = {"input": value, "outputs": outputs, "iteration": 0, "output": None}
            for agent in stage.agents:
                if agent.condition is None or _compiled(agent.condition).evaluate(names):
                    result.iterations = 1
                    return await self._call(pipeline, stage, agent, value, 0, 0, result)
            raise _NoBranch
        if mode is ExecutionMode.LOOP:
            until = _compiled(stage.until) if stage.until else None
            for iteration in range(stage.max_iterations):
                value = await self._in_turn(pipeline, stage, stage.agents, value, iteration, result)
                result.iterations = iteration + 1
                names = {"input": value, "outputs": outputs, "iteration": iteration + 1,
                         "output": value}  # fmt: skip
                if until is not None and until.evaluate(names):
                    break
            return value
        return await self._map_reduce(pipeline, stage, value, result)

    async def _in_turn(
        self,
        pipeline: PipelineInput,
        stage: PipelineStage,
        agents: list[AgentRef],
        value: Any,
        iteration: int,
        result: StageResult,
    ) -> Any:
        for n, agent in enumerate(agents):
            value = await self._call(pipeline, stage, agent, value, iteration, n, result)
        return value

    async def _map_reduce(
        self, pipeline: PipelineInput, stage: PipelineStage, value: Any, result: StageResult
    ) -> Any:
        items = value
        if stage.map_field is not None:
            if not isinstance(value, dict) or stage.map_field not in value:
                raise _StageError(f"the input has no field {stage.map_field!r} to map over")
            items = value[stage.map_field]
        if not isinstance(items, list):
            raise _StageError(f"MAP_REDUCE needs a list to split, got {type(items).__name__}")
        chunks = _chunks(items, len(stage.agents), stage.chunk_size)
        result.iterations = 1
        calls = [
            self._call(
                pipeline, stage, stage.agents[n % len(stage.agents)],
                {"items": chunk, "chunk": n, "of": len(chunks)}, 0, n, result,
            )
            for n, chunk in enumerate(chunks)
        ]  # fmt: skip
        partials = await _all(calls)
        if stage.reducer.startswith("agent:"):
            agent_id, _, action = stage.reducer[len("agent:") :].rpartition(".")
            reducer = AgentRef(agent_id=agent_id, action=action)
            return await self._call(
                pipeline, stage, reducer, {"partials": partials}, 0, len(chunks), result
            )
        reduction = Reduction(stage.reducer)
        try:
            for n, partial in enumerate(partials):
                reduction.add(n, partial)
        except ReducerError as exc:
            raise _StageError(f"reducer {stage.reducer}: {exc}") from None
        return reduction.result()

    async def _call(
        self,
        pipeline: PipelineInput,
        stage: PipelineStage,
        agent: AgentRef,
        data: Any,
        iteration: int,
        call: int,
        result: StageResult,
    ) -> Any:
        result.calls += 1
        request = ActionRequest(
            data=data,
            idempotency_key=f"{pipeline.execution_id}/{stage.name}/{iteration}/{call}",
            caller=workflow.info().workflow_id,
            context={"stage": stage.name, "iteration": iteration, "call": call},
        )
        route = agent.route
        if route is not None:
            if stage.mode is ExecutionMode.MAP_REDUCE and agent.strategy is None:
                route = route.model_copy(update={"strategy": RoutingStrategy.ROUND_ROBIN})
            _, output = await call_routed(
                route,
                pipeline.routing,
                action=agent.action,
                request=request,
                timeout_ms=stage.timeout_ms,
                retry=stage.retry_policy,
                purpose=f"pipeline {pipeline.execution_id} stage {stage.name} call {call}",
                label=f"stage {stage.name}",
            )
            return output
        assert agent.agent_id is not None
        try:
            return await dispatch_action(
                agent_id=agent.agent_id,
                endpoint=agent.endpoint,
                action=agent.action,
                request=request,
                timeout_ms=stage.timeout_ms,
                retry=stage.retry_policy,
                summary=f"stage {stage.name}: {agent.agent_id}.{agent.action}",
                schedule_to_start_timeout_ms=(
                    pipeline.config.stage_start_timeout_ms
                    if workflow.patched(STAGE_START_TIMEOUT)
                    else None
                ),
            )
        except ActivityError as exc:
            if unpolled(exc):
                raise _StageError(unpolled_message(agent.agent_id, agent.endpoint)) from exc
            raise

    async def _transform(self, stage: PipelineStage, value: Any) -> Any:
        assert stage.transform is not None
        return await workflow.execute_activity(
            TRANSFORM_ACTIVITY,
            TransformRequest(name=stage.transform.name, params=stage.transform.params, value=value),
            start_to_close_timeout=timedelta(milliseconds=stage.timeout_ms),
            retry_policy=stage.retry_policy.to_temporal(),
            summary=f"stage {stage.name}: transform {stage.transform.name}",
        )

    async def _park(self, stage: PipelineStage, error: str) -> Resolution:
        """Wait in NEEDS_INTERVENTION for the operator's resolution of the failed stage."""
        execution = self._exec
        assert execution is not None
        incident = Incident(
            step=stage.name,
            kind=IncidentKind.STEP,
            error=error,
            since=workflow.now().isoformat(),
            actions=[ResolveAction.RETRY, ResolveAction.SKIP],
        )
        execution.incidents.append(incident)
        execution.failed_stage = stage.name
        execution.status = PipelineStatus.NEEDS_INTERVENTION
        self._set_state(execution.status)
        workflow.set_current_details(
            f"stage {stage.name} failed: {error}\n\n"
            "needs intervention: resolve it with retry or skip"
        )
        await wait_for_operator(lambda: stage.name in self._resolutions, lambda: None)
        execution.incidents.remove(incident)
        execution.failed_stage = None
        execution.status = PipelineStatus.RUNNING
        self._set_state(execution.status)
        return self._resolutions.pop(stage.name)

    def _set_state(self, status: PipelineStatus) -> None:
        execution = self._exec
        assert execution is not None
        workflow.upsert_search_attributes(
            orchestration_attributes("pipeline", execution.name, status.value)
        )


async def _all(calls: list[Any]) -> list[Any]:
    """Run the calls at once; the first failure (in call order) is raised once all ended."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    return list(results)


def _chunks(items: list[Any], agents: int, size: int | None) -> list[list[Any]]:
    """Contiguous chunks: ``size`` items each, else one per agent (never empty ones)."""
    if size is None:
        parts = max(1, min(agents, len(items)))
        bounds = [chunk_bounds(len(items), parts, n) for n in range(parts)]
        return [items[a:b] for a, b in bounds if b > a]
    return [items[i : i + size] for i in range(0, len(items), size)]


def _ms_since(started: datetime) -> float:
    return (workflow.now() - started).total_seconds() * 1000
