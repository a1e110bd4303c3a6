"""``SwarmWorkflow``: a job's partitions processed by a pool of agents, round by round.

Each round the behaviour's policy (``swarm/policies``) assigns pending partitions to idle
agents (a round also happens when the policy asked to review the swarm at a given time, as
SWARMING does when an in-flight partition turns into a straggler); each assignment runs as
one activity on the agent's task queue (``activities/swarm_batch.py``: a batch of
partitions, heartbeating). The workflow waits
until an assignment ends, folds its results into the reduction (the first result of a
partition counts, later copies are ignored), lets the policy observe the outcome, and starts
the next round. A failed partition goes back in line until it has failed ``max_attempts``
times; an agent that failed ``max_agent_failures`` assignments in a row gets no more work;
an assignment no agent picks up within ``agent_timeout_ms`` (the agent is gone) or that
stops heartbeating fails, and its partitions are reassigned.

The swarm ends when every partition is done or failed for good, or at its deadline. It
*converges* when the share of the job's items whose partitions completed reaches
``convergence_threshold``: then it returns its result (marked ``partial`` when some items
are missing); otherwise it fails with ``SwarmNotConverged`` carrying the same result.

Large jobs: when Temporal suggests it (or the history passes ``max_history_events``), the workflow
stops assigning, lets what is in flight finish, and continues as new with its state (a byte
per partition, the reducer's accumulator, the agents' statistics, the policy's memory).

Returned (and documented in the README): ``convergence`` (share of items done),
``iterations`` (scheduling rounds), ``duration_ms``, ``efficiency`` (agents' busy time /
(agents x duration), in [0, 1]), ``result`` (the reduction), ``partial``, ``converged``,
``partitions_completed`` / ``_failed``, ``evaluations`` (items processed: a fitness
evaluation is one item) and per-agent statistics (``fitness`` = its recent useful
throughput, items/s).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.metrics as metrics
    from orchestration.core.retry import RetrySpec
    from orchestration.core.search_attributes import ORCHESTRATION_STATE, orchestration_attributes
    from swarm.policies import make_policy
    from swarm.scheduling import (
        RULES,
        PolicyConfig,
        SwarmBehavior,
        avoid_repeat_failures,
        check_assignments,
    )
    from workflows.dispatch import (
        call_priority,
        cause_message,
        describe_failure,
        dispatch_action,
    )
    from workflows.inputs import checked_input
    from workflows.metrics import observe
    from workflows.models import ActionRequest
    from workflows.ranges import format_ranges, parse_ranges
    from workflows.reducers import ReducerError, Reduction
    from workflows.swarm_files import (
        PLAN_DATASET_ACTIVITY,
        WRITE_MANIFEST_ACTIVITY,
        DatasetPlan,
        DatasetSource,
        PlanDataset,
        WriteManifest,
    )
    from workflows.swarm_manifest import build_manifest
    from workflows.swarm_models import SWARM_BATCH, SwarmCarry, SwarmInput, SwarmProgress, SwarmTask
    from workflows.swarm_plan import (
        PartitionPlan,
        SourceError,
        plan_dataset,
        plan_indexed,
        plan_inline,
        plan_source,
    )
    from workflows.swarm_state import DONE, FAILED, PENDING, InFlight, SwarmState

__all__ = ["NOT_CONVERGED", "SwarmWorkflow"]

NOT_CONVERGED = "SwarmNotConverged"
"""Error type of a swarm that ended below its convergence threshold (details: the result)."""
STEAL_LAST = "swarm-steal-last-queued-partition"
"""Patch id: work stealing takes a busy agent's last queued partition too (swarms started
before it replay without)."""
BEHAVIOUR_RULES = "swarm-behaviour-rules-2"
"""Patch id: the behaviours follow rules revision 2 (``swarm.scheduling.RULES``, each
policy's docstring); swarms started before replay with revision 1."""
_ONE_ATTEMPT = RetrySpec(maximum_attempts=1)
_MANIFEST_ATTEMPT = timedelta(seconds=60)
_MANIFEST_RETRY = RetrySpec(maximum_attempts=5)
_MIN_REVIEW_S = 0.05
"""A policy's wake-up comes at least this long after the round (no busy loop of timers)."""


@workflow.defn(name="SwarmWorkflow")
class SwarmWorkflow:
    def __init__(self) -> None:
        self._task: SwarmTask | None = None
        self._state: SwarmState | None = None
        self._iterations = 0
        self._started = 0.0
        self._runs = 1

    @workflow.run
    async def run(self, raw_swarm: Any) -> dict[str, Any]:
        swarm = checked_input(SwarmInput, raw_swarm)
        task = self._task = swarm.task
        carry = swarm.carry
        self._started = carry.started_at if carry else workflow.now().timestamp()
        self._iterations = carry.iterations if carry else 0
        self._runs = carry.runs if carry else 1
        workflow.upsert_search_attributes(
            orchestration_attributes("swarm", task.objective[:200], "RUNNING")
        )
        plan = await self._plan(task, carry)
        state = self._state = SwarmState.new(
            task.agents,
            plan.items,
            plan.keys,
            reducer=task.reducer,
            max_attempts=task.max_attempts,
            max_agent_failures=task.max_agent_failures,
        )
        state.agent_info = {a: (i.location, i.upstream) for a, i in task.agent_info.items()}
        config = PolicyConfig.from_tuning(task.batch_size(len(plan.items)), swarm.tuning)
        policy = make_policy(task.behavior, config, carry.policy_memory if carry else None)
        converged_at = carry.converged_at if carry else None
        if carry is not None:
            state.restore(carry.state)
        elif task.redrive is not None:
            self._start_redrive(task, state)
        deadline = self._started + task.timeout_ms / 1000
        tolerated = task.failures_tolerated(len(state.items))
        revision = self._rules(task)
        running: dict[int, asyncio.Task[Any]] = {}
        number = 0
        draining = False
        given_up = False
        while not state.resolved():
            now = workflow.now().timestamp()
            if now >= deadline:
                break
            draining = draining or self._history_is_long(task.max_history_events)
            if not draining:
                round_state = state.round_state(
                    self._iterations + 1,
                    now,
                    config,
                    steal_last=self._steals_last(task),
                    revision=revision,
                )
                assignments = avoid_repeat_failures(
                    round_state, policy.assign(round_state, workflow.random())
                )
                check_assignments(round_state, assignments)
                for assignment in assignments:
                    number += 1
                    state.start(
                        number,
                        InFlight(
                            assignment.agent_id, assignment.partition_ids, now, assignment.backup
                        ),
                    )
                    running[number] = asyncio.create_task(
                        self._dispatch(task, plan, number, assignment.agent_id,
                                       assignment.partition_ids)
                    )  # fmt: skip
                self._iterations += 1
            if not running:
                break  # nothing assignable (no healthy agent), or drained for continue-as-new
            self._publish_progress(state)
            wake = deadline
            if not draining:
                review = policy.review_at(round_state)
                if review is not None:
                    wake = min(wake, max(review, now + _MIN_REVIEW_S))
            done, _ = await workflow.wait(
                list(running.values()),
                timeout=max(0.001, wake - workflow.now().timestamp()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            for finished in [n for n, t in running.items() if t in done]:
                outcome = self._apply(state, finished, running.pop(finished))
                if outcome is not None:
                    policy.observe(outcome)
            self._cancel_redundant(state, running)
            if tolerated is not None and state.count(FAILED) > tolerated:
                given_up = True  # past the failures tolerated: do not burn the rest
                break
            if converged_at is None and state.convergence() >= task.convergence_threshold:
                converged_at = workflow.now().timestamp()
                observe(metrics.swarm_convergence_time_ms, (converged_at - self._started) * 1000)
        for task_ in running.values():
            task_.cancel()
        if running:
            await workflow.wait(list(running.values()))
        if (
            draining
            and not given_up
            and not state.resolved()
            and workflow.now().timestamp() < deadline
        ):
            workflow.continue_as_new(
                SwarmInput(
                    task=task,
                    tuning=swarm.tuning,
                    carry=SwarmCarry(
                        started_at=self._started,
                        iterations=self._iterations,
                        state=state.export(),
                        policy_memory=policy.export(),
                        converged_at=converged_at,
                        plan_items=plan.items if plan.data is not None else None,
                        plan_keys=plan.keys if plan.data is not None else None,
                        plan_data=plan.data,
                        plan_dataset=plan.dataset,
                        runs=self._runs + 1,
                    ),
                )
            )
        exceeded = tolerated if given_up else None
        result = self._result(task, state, converged_at, exceeded)
        if task.result_writer is not None:
            await self._write_manifest(task, plan, state, result)
        return self._verdict(task, state, result, exceeded)

    @staticmethod
    def _start_redrive(task: SwarmTask, state: SwarmState) -> None:
        """Count every partition the redrive does not run as done (their results are in the
        earlier swarm's accumulator, which this one reduces onto)."""
        assert task.redrive is not None
        rerun = set(parse_ranges(task.redrive.partitions))
        if max(rerun, default=-1) >= len(state.items):
            raise ApplicationError(
                f"swarm {task.swarm_id}: the redrive of {task.redrive.of} runs partition "
                f"{max(rerun)}, but the job has {len(state.items)} partitions now: the data "
                "changed since that swarm ran",
                type="InvalidRedrive",
                non_retryable=True,
            )
        state.mark_done([p for p in range(len(state.items)) if p not in rerun])
        try:
            state.reduction = Reduction(task.reducer, dict(task.redrive.accumulator))
        except (KeyError, TypeError, ValueError) as exc:
            raise ApplicationError(
                f"swarm {task.swarm_id}: the accumulator of {task.redrive.of} does not fit "
                f"the {task.reducer} reducer: {exc}",
                type="InvalidRedrive",
                non_retryable=True,
            ) from None

    # -- queries --------------------------------------------------------------------------

    @workflow.query
    def progress(self) -> SwarmProgress | None:
        """Where the swarm is (None before its partitions are planned)."""
        state, task = self._state, self._task
        if state is None or task is None:
            return None
        return SwarmProgress(
            swarm_id=task.swarm_id,
            behavior=task.behavior,
            partitions=len(state.items),
            completed=state.count(DONE),
            failed=state.count(FAILED),
            in_flight=len({p for a in state.in_flight.values() for p in a.partition_ids}),
            pending=state.queued,
            items_total=state.total_items,
            items_done=state.done_items,
            convergence=state.convergence(),
            iterations=self._iterations,
            elapsed_ms=(workflow.now().timestamp() - self._started) * 1000,
            runs=self._runs,
            rows_rejected=state.rejected_count,
        )

    # -- steps ----------------------------------------------------------------------------

    async def _plan(self, task: SwarmTask, carry: SwarmCarry | None) -> PartitionPlan:
        if task.items is not None:
            return plan_inline(task)
        if isinstance(task.source, DatasetSource):
            if carry is not None and carry.plan_dataset is not None:
                return plan_dataset(carry.plan_dataset)
            return plan_dataset(await self._plan_dataset(task, task.source))
        if task.source is None:
            return plan_indexed(task)
        if carry is not None and carry.plan_items is not None and carry.plan_keys is not None:
            return PartitionPlan(carry.plan_items, carry.plan_keys, carry.plan_data)
        answer = await dispatch_action(
            agent_id=task.source.agent_id,
            action=task.source.action,
            request=ActionRequest(
                data=task.source.params,
                idempotency_key=f"{task.swarm_id}/source",
                caller=workflow.info().workflow_id,
            ),
            timeout_ms=task.partition_timeout_ms,
            retry=RetrySpec(maximum_attempts=task.max_attempts),
            summary=f"{task.swarm_id}: list partitions ({task.source.agent_id})",
            priority=call_priority(task.priority),
        )
        try:
            return plan_source(task, answer)
        except SourceError as exc:
            raise ApplicationError(str(exc), type="InvalidSource", non_retryable=True) from None

    async def _write_manifest(
        self, task: SwarmTask, plan: PartitionPlan, state: SwarmState, result: dict[str, Any]
    ) -> None:
        """Write the manifest; its URI goes in ``result["manifest_uri"]``. A store that
        cannot be written loses the manifest, not the result: ``manifest_error`` says why."""
        writer = task.result_writer
        assert writer is not None
        manifest = build_manifest(task, plan, state, result, workflow.now().isoformat())
        try:
            result["manifest_uri"] = await workflow.execute_activity(
                WRITE_MANIFEST_ACTIVITY,
                WriteManifest(writer=writer, swarm_id=task.swarm_id, manifest=manifest),
                task_queue=workflow.info().task_queue,
                result_type=str,
                start_to_close_timeout=_MANIFEST_ATTEMPT,
                retry_policy=_MANIFEST_RETRY.to_temporal(),
                summary=f"{task.swarm_id}: manifest to {writer.uri}",
            )
        except ActivityError as exc:
            result["manifest_uri"] = None
            result["manifest_error"] = cause_message(exc)

    @staticmethod
    async def _plan_dataset(task: SwarmTask, source: DatasetSource) -> DatasetPlan:
        """The dataset's plan, from the orchestration worker (``activities/dataset_plan.py``);
        a file that cannot be split fails the swarm before any partition runs."""
        try:
            plan: DatasetPlan = await workflow.execute_activity(
                PLAN_DATASET_ACTIVITY,
                PlanDataset(source=source, partitions=task.data_partitions,
                            swarm_id=task.swarm_id),
                task_queue=workflow.info().task_queue,
                result_type=DatasetPlan,
                start_to_close_timeout=timedelta(milliseconds=task.timeout_ms),
                heartbeat_timeout=timedelta(milliseconds=max(task.heartbeat_timeout_ms, 10_000)),
                retry_policy=RetrySpec(maximum_attempts=task.max_attempts).to_temporal(),
                summary=f"{task.swarm_id}: plan {source.uri}",
                priority=call_priority(task.priority) or Priority.default,
            )  # fmt: skip
        except ActivityError as exc:
            raise ApplicationError(
                f"swarm {task.swarm_id} cannot split its dataset: {cause_message(exc)}",
                type="InvalidSource",
                non_retryable=True,
            ) from None
        return plan

    async def _dispatch(
        self,
        task: SwarmTask,
        plan: PartitionPlan,
        number: int,
        agent_id: str,
        partitions: tuple[int, ...],
    ) -> Any:
        return await dispatch_action(
            agent_id=agent_id,
            action=SWARM_BATCH,
            request=ActionRequest(
                data={
                    "action": task.action,
                    "partitions": [plan.descriptor(task, p) for p in partitions],
                    **({"dataset": plan.dataset.ref} if plan.dataset is not None else {}),
                },
                idempotency_key=f"{task.swarm_id}/{self._runs}/{number}",
                caller=workflow.info().workflow_id,
            ),
            timeout_ms=task.partition_timeout_ms * len(partitions),
            retry=_ONE_ATTEMPT,
            heartbeat_timeout_ms=task.heartbeat_timeout_ms,
            priority=call_priority(task.priority),
            schedule_to_start_timeout_ms=task.agent_timeout_ms,
            summary=f"{task.swarm_id}: {agent_id} partitions {format_ranges(partitions)}",
        )

    def _apply(self, state: SwarmState, number: int, finished: asyncio.Task[Any]) -> Any:
        assignment = state.in_flight[number]
        elapsed_ms = (workflow.now().timestamp() - assignment.started_at) * 1000
        if finished.cancelled():
            state.abandon(number)
            return None
        error = finished.exception()
        if error is not None:
            if not isinstance(error, ActivityError | ReducerError):
                raise error
            return state.finish(
                number,
                results={},
                errors={},
                busy_ms=elapsed_ms,
                failure=describe_failure(error, agent_id=assignment.agent_id),
            )
        answer = finished.result() or {}
        return state.finish(
            number,
            results=answer.get("results", {}),
            errors=answer.get("errors", {}),
            busy_ms=float(answer.get("busy_ms", elapsed_ms)),
            rejected=answer.get("rejected"),
            partition_ms=answer.get("partition_ms"),
        )

    @staticmethod
    def _cancel_redundant(state: SwarmState, running: dict[int, asyncio.Task[Any]]) -> None:
        """Cancel copies whose partitions another agent finished (SWARMING backups)."""
        for number, assignment in state.in_flight.items():
            if number in running and all(
                state.status[p] != PENDING for p in assignment.partition_ids
            ):
                running[number].cancel()

    @staticmethod
    def _steals_last(task: SwarmTask) -> bool:
        """Whether work stealing may take a busy agent's last queued partition. Only the
        behaviours that steal ask, so only their histories carry the patch marker."""
        if task.behavior not in (SwarmBehavior.DISPERSING, SwarmBehavior.CLUSTERING):
            return True  # unused by the others
        return workflow.patched(STEAL_LAST)

    @staticmethod
    def _rules(task: SwarmTask) -> int:
        """The revision of the behaviours' rules this run follows: ``RULES``, or 1 when
        replaying a swarm that started before them. Only the behaviours whose rules changed
        ask, so only their histories carry the patch marker."""
        if task.behavior in (SwarmBehavior.ROUND_ROBIN, SwarmBehavior.SWARMING):
            return RULES
        return RULES if workflow.patched(BEHAVIOUR_RULES) else 1

    @staticmethod
    def _history_is_long(limit: int) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit

    def _publish_progress(self, state: SwarmState) -> None:
        task = self._task
        assert task is not None
        workflow.set_current_details(
            f"{state.count(DONE):,}/{len(state.items):,} partitions done, "
            f"{state.count(FAILED):,} failed, convergence {state.convergence():.1%}, "
            f"round {self._iterations} (run {self._runs})"
        )
        if not workflow.unsafe.is_replaying():
            busy = state.busy_agents()
            healthy = {a for a, s in state.agents.items() if s.consecutive_failures
                       < state.max_agent_failures}  # fmt: skip
            roles = {
                "working": len(busy),
                "idle": len(healthy - busy),
                "unhealthy": len(state.agents) - len(healthy),
            }
            for role, count in roles.items():
                metrics.swarm_agents_total.labels(swarm_id=task.swarm_id, role=role).set(count)

    def _result(
        self,
        task: SwarmTask,
        state: SwarmState,
        converged_at: float | None,
        exceeded: int | None,
    ) -> dict[str, Any]:
        """The result dict (see the module docstring); counts the swarm's end in metrics."""
        now = workflow.now().timestamp()
        duration_ms = max(0.0, (now - self._started) * 1000)
        busy_ms = sum(s.busy_ms for s in state.agents.values())
        agents = len(state.agents)
        efficiency = min(1.0, busy_ms / (agents * duration_ms)) if duration_ms and agents else 0.0
        convergence = state.convergence()
        converged = convergence >= task.convergence_threshold and exceeded is None
        partial = convergence < 1.0
        status = "failed" if not converged else "partial" if partial else "completed"
        workflow.upsert_search_attributes([ORCHESTRATION_STATE.value_set(status.upper())])
        result: dict[str, Any] = {
            "swarm_id": task.swarm_id,
            "objective": task.objective,
            "behavior": task.behavior.value,
            "status": status,
            "converged": converged,
            "partial": partial,
            "convergence": convergence,
            "convergence_threshold": task.convergence_threshold,
            "convergence_time_ms": (converged_at - self._started) * 1000 if converged_at else None,
            "iterations": self._iterations,
            "duration_ms": duration_ms,
            "efficiency": efficiency,
            "result": state.reduction.result() if converged else None,
            "partitions": len(state.items),
            "partitions_completed": state.count(DONE),
            "partitions_failed": len(state.items) - state.count(DONE),
            "items_total": state.total_items,
            "items_processed": state.done_items,
            "evaluations": state.done_items,
            "evaluations_per_s": state.done_items / (duration_ms / 1000) if duration_ms else 0.0,
            "agents": {
                agent_id: {**stats.to_json(), "fitness": stats.throughput}
                for agent_id, stats in state.agents.items()
            },
            "errors": state.errors,
            "error_count": state.error_count,
            "rows_rejected": state.rejected_count,
            "runs": self._runs,
            "redrive_of": task.redrive.of if task.redrive is not None else None,
            "unfinished": format_ranges(state.unfinished()),
        }
        if result["unfinished"]:
            result["accumulator"] = state.reduction.accumulator  # what a redrive goes on from
        if not workflow.unsafe.is_replaying():
            metrics.swarm_executions_total.labels(status=status).inc()
            metrics.swarm_efficiency.labels(behavior=task.behavior.value).set(efficiency)
            metrics.swarm_items_processed_total.labels(behavior=task.behavior.value).inc(
                state.done_items
            )
            for role in ("working", "idle", "unhealthy"):
                with contextlib.suppress(KeyError):
                    metrics.swarm_agents_total.remove(task.swarm_id, role)
        return result

    @staticmethod
    def _verdict(
        task: SwarmTask, state: SwarmState, result: dict[str, Any], exceeded: int | None
    ) -> dict[str, Any]:
        """``result``; raises NOT_CONVERGED (carrying it) when the swarm did not converge, or
        gave up because more than ``exceeded`` partitions failed for good."""
        if exceeded is not None:
            failed = state.count(FAILED)
            raise ApplicationError(
                f"swarm {task.swarm_id} gave up: {failed:,} of {len(state.items):,} partitions "
                f"failed for good, more than the {exceeded:,} tolerated "
                "(tolerated_failure_count / tolerated_failure_percent); "
                f"{state.count(PENDING):,} were not run",
                result,
                type=NOT_CONVERGED,
                non_retryable=True,
            )
        if not result["converged"]:
            raise ApplicationError(
                f"swarm {task.swarm_id} reached convergence {result['convergence']:.1%}, below its "
                f"threshold {task.convergence_threshold:.1%} "
                f"({result['partitions_failed']} of {result['partitions']} partitions missing)",
                result,
                type=NOT_CONVERGED,
                non_retryable=True,
            )
        return result
