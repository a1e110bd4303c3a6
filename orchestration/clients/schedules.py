"""Schedules: sagas and pipelines that run on a cron expression or an interval, as Temporal
Schedules (the server starts each run; nothing of ours needs to be up but a worker).

Every run's workflow id is the schedule id followed by its scheduled time
(``csrd-monthly-2027-01-01T00:00:00Z``): a saga's transaction id and idempotency keys, and a
scheduled pipeline's execution id, are that workflow id, so each period is a run of its own.
``overlap`` says what happens when a run is due while the previous one still runs:
``skip`` it (the default), ``buffer_one`` (run it after), or ``allow_all``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from orchestration.clients.workflow_client import WorkflowClient
from orchestration.core.exceptions import ScheduleError, ValidationError

__all__ = ["OVERLAPS", "Overlap", "ScheduleView", "Schedules", "schedule_spec"]

Overlap = Literal["skip", "buffer_one", "allow_all"]
OVERLAPS: dict[str, ScheduleOverlapPolicy] = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}
_OUR_TYPES = ("SagaWorkflow", "PipelineWorkflow")
_SPEC_MEMO = "orchestration_spec"
"""The memo key holding the spec as it was given (``cron 0 6 1 * *``, ``every 1h``)."""
MIN_INTERVAL_MS = 1000


class ScheduleView(BaseModel):
    """What ``list`` and ``describe`` tell of a schedule."""

    schedule_id: str
    workflow_type: str
    spec: str
    """``cron <expr>`` or ``every <n> ms``."""
    overlap: str
    paused: bool
    note: str | None = None
    next_runs: list[str] = []
    recent_runs: list[dict[str, str]] = []
    """``{"workflow_id", "scheduled_at", "started_at"}``, oldest first."""


def schedule_spec(cron: str | None, interval_ms: int | None) -> ScheduleSpec:
    """The spec of exactly one of ``cron`` and ``interval_ms``.

    Raises:
        ValidationError: neither or both, or an interval under a second.
    """
    if (cron is None) == (interval_ms is None):
        raise ValidationError.about("cron", "give exactly one of cron and interval_ms")
    if cron is not None:
        return ScheduleSpec(cron_expressions=[cron])
    assert interval_ms is not None
    if interval_ms < MIN_INTERVAL_MS:
        raise ValidationError.about("interval_ms", f"must be at least {MIN_INTERVAL_MS} ms")
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(milliseconds=interval_ms))])


class Schedules(WorkflowClient):
    """Create, list and operate the schedules of sagas and pipelines."""

    error = ScheduleError
    noun = "schedule"

    async def create(
        self,
        schedule_id: str,
        run: Callable[[Any, Any], Awaitable[Any]],
        argument: Any,
        *,
        cron: str | None = None,
        interval_ms: int | None = None,
        overlap: Overlap = "skip",
        summary: str | None = None,
    ) -> ScheduleView:
        """Schedule ``run(argument)`` on ``ORCH_TASK_QUEUE``.

        Raises:
            ValidationError: a bad spec (the server's words for a bad cron expression),
                overlap or id.
            ScheduleError: a schedule with this id exists.
        """
        spec = schedule_spec(cron, interval_ms)
        if overlap not in OVERLAPS:
            raise ValidationError.about("overlap", f"one of {', '.join(OVERLAPS)}, not {overlap!r}")
        if not schedule_id or len(schedule_id) > 150:
            raise ValidationError.about("schedule_id", "1 to 150 characters")
        await self.initialize()
        action = ScheduleActionStartWorkflow(
            run,
            argument,
            id=schedule_id,
            task_queue=self._settings.task_queue,
            static_summary=summary,
        )
        schedule = Schedule(
            action=action,
            spec=spec,
            policy=SchedulePolicy(overlap=OVERLAPS[overlap]),
            state=ScheduleState(note=summary),
        )
        try:
            handle = await self.client.create_schedule(
                schedule_id, schedule, memo={_SPEC_MEMO: _shown_spec(cron, interval_ms)}
            )
        except ScheduleAlreadyRunningError:
            raise ScheduleError(
                f"a schedule {schedule_id!r} exists already (orchestration schedule describe "
                f"{schedule_id}; delete it first to replace it)"
            ) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.INVALID_ARGUMENT:
                field = "cron" if cron is not None else "schedule"
                raise ValidationError.about(field, exc.message) from None
            raise
        return await _view(await handle.describe())

    async def list(self) -> list[ScheduleView]:
        """Every schedule of a saga or a pipeline in the namespace."""
        await self.initialize()
        views = []
        async for entry in await self.client.list_schedules():
            action = entry.schedule.action if entry.schedule is not None else None
            workflow = getattr(action, "workflow", None)
            if workflow in _OUR_TYPES:
                views.append(await self.describe(entry.id))
        return sorted(views, key=lambda v: v.schedule_id)

    async def describe(self, schedule_id: str) -> ScheduleView:
        return await _view(await self._call(schedule_id, lambda h: h.describe()))

    async def pause(self, schedule_id: str, note: str | None = None) -> None:
        await self._call(schedule_id, lambda h: h.pause(note=note or "paused"))

    async def unpause(self, schedule_id: str, note: str | None = None) -> None:
        await self._call(schedule_id, lambda h: h.unpause(note=note or "unpaused"))

    async def trigger(self, schedule_id: str) -> None:
        """Start a run now (its overlap policy applies)."""
        await self._call(schedule_id, lambda h: h.trigger())

    async def backfill(self, schedule_id: str, start: datetime, end: datetime) -> None:
        """Start the runs the schedule would have started between ``start`` and ``end``
        (each with its own scheduled time in its id); all of them, whatever the overlap.

        Raises:
            ValidationError: ``end`` is not after ``start``, or a time has no time zone.
        """
        for name, moment in (("start", start), ("end", end)):
            if moment.tzinfo is None:
                raise ValidationError.about(name, "needs a time zone (e.g. 2026-01-01T00:00Z)")
        if end <= start:
            raise ValidationError.about("end", "must be after start")
        fill = ScheduleBackfill(start_at=start, end_at=end, overlap=ScheduleOverlapPolicy.ALLOW_ALL)
        await self._call(schedule_id, lambda h: h.backfill(fill))

    async def delete(self, schedule_id: str) -> None:
        """Delete the schedule (runs it started go on)."""
        await self._call(schedule_id, lambda h: h.delete())

    async def _call(
        self, schedule_id: str, call: Callable[[ScheduleHandle], Awaitable[Any]]
    ) -> Any:
        await self.initialize()
        try:
            return await call(self.client.get_schedule_handle(schedule_id))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ScheduleError(f"no schedule {schedule_id!r}") from None
            raise


def _shown_spec(cron: str | None, interval_ms: int | None) -> str:
    if cron is not None:
        return f"cron {cron}"
    assert interval_ms is not None
    return f"every {_duration(timedelta(milliseconds=interval_ms))}"


async def _view(description: ScheduleDescription) -> ScheduleView:
    schedule = description.schedule
    action = schedule.action
    workflow = getattr(action, "workflow", "")
    memo = await description.memo()
    shown = memo.get(_SPEC_MEMO)  # as given: the server keeps a cron as calendar rules
    if not isinstance(shown, str):
        intervals = schedule.spec.intervals
        shown = "every " + ", ".join(_duration(i.every) for i in intervals) if intervals else ""
    overlap = next(
        (name for name, policy in OVERLAPS.items() if policy == schedule.policy.overlap),
        schedule.policy.overlap.name.lower(),
    )
    return ScheduleView(
        schedule_id=description.id,
        workflow_type=workflow if isinstance(workflow, str) else getattr(workflow, "__name__", ""),
        spec=shown,
        overlap=overlap,
        paused=schedule.state.paused,
        note=schedule.state.note or None,
        next_runs=[t.isoformat() for t in description.info.next_action_times],
        recent_runs=[
            {
                "workflow_id": getattr(r.action, "workflow_id", ""),
                "scheduled_at": r.scheduled_at.isoformat(),
                "started_at": r.started_at.isoformat(),
            }
            for r in description.info.recent_actions
        ],
    )


def _duration(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
