"""The activity a swarm assignment runs: one agent processing a batch of partitions.

Every ``Agent`` registers it (as ``orchestration.swarm_batch``) beside its own actions. It
runs the swarm's action on each partition in turn, through the same path as the action's
own activity (input validation, errors), with the idempotency key
``<assignment key>/<partition>``, and heartbeats (at least every quarter of the heartbeat
timeout) with the results so far. A retried attempt resumes from the last heartbeat instead
of redoing finished partitions, and the workflow never counts a partition twice. A
partition whose handler raises is reported in ``errors`` (its neighbours' results still
count); the activity itself fails only when it cannot run at all.

A swarm over a dataset sends each partition's row and byte range: the rows are read here
through one open file per batch (``activities/dataset_rows.py``; on the event loop for a
local file, in a thread for an object store) and the action gets them as ``items``. Rows
the reader or the handler (``ctx.reject_rows``) rejected are reported by partition, with
their row numbers in the dataset.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActionContext
from activities.dataset_rows import MAX_REASON, DatasetReader, PartitionRows
from orchestration.core.tracing import mark_failed, span
from workflows.models import ActionRequest
from workflows.swarm_models import SWARM_BATCH, SwarmBatch, SwarmBatchResult

__all__ = ["MAX_REJECTED_PER_PARTITION", "BatchAgent", "swarm_batch_activity"]

MAX_REJECTED_PER_PARTITION = 1000
"""Rejections reported per partition (the rest are counted in one last entry)."""


class BatchAgent(Protocol):
    """What the batch activity needs of an agent: its id, its actions and a way to run one."""

    @property
    def agent_id(self) -> str: ...

    @property
    def actions(self) -> list[str]: ...

    async def invoke(self, action_name: str, data: Any, ctx: ActionContext) -> Any: ...


def swarm_batch_activity(agent: BatchAgent) -> Any:
    """The batch activity of ``agent`` (bound to its handlers)."""

    async def swarm_batch(request: ActionRequest) -> SwarmBatchResult:
        batch = SwarmBatch.model_validate(request.data)
        if batch.action not in agent.actions:
            raise ApplicationError(
                f"agent {agent.agent_id} has no action {batch.action!r} "
                f"(it has {', '.join(agent.actions)})",
                type="UnknownAction",
                non_retryable=True,
            )
        info = activity.info()
        # Heartbeat often enough for the timeout, not after every partition: each heartbeat
        # carries the results so far, and a thousand of them per batch would cost more than
        # the work.
        every_s = (info.heartbeat_timeout.total_seconds() / 4) if info.heartbeat_timeout else 1.0
        done = SwarmBatchResult()
        if info.heartbeat_details:
            done = SwarmBatchResult.model_validate(info.heartbeat_details[0])
        with contextlib.ExitStack() as opened:
            reader = None
            if batch.dataset is not None:
                reader = opened.enter_context(DatasetReader(batch.dataset))
            await _run_partitions(agent, batch, request, done, reader, every_s)
        return done

    swarm_batch.__name__ = swarm_batch.__qualname__ = f"{agent.agent_id}.swarm_batch"
    return activity.defn(name=SWARM_BATCH)(swarm_batch)


async def _run_partitions(
    agent: BatchAgent,
    batch: SwarmBatch,
    request: ActionRequest,
    done: SwarmBatchResult,
    reader: DatasetReader | None,
    every_s: float,
) -> None:
    """Run the batch's partitions not done yet into ``done``, heartbeating it."""
    info = activity.info()
    last_beat = time.monotonic()
    for descriptor in batch.partitions:
        partition = str(descriptor["partition"])
        if partition in done.results or partition in done.errors:
            continue
        ctx = ActionContext(
            agent_id=agent.agent_id,
            action=batch.action,
            idempotency_key=f"{request.idempotency_key}/{partition}",
            caller=request.caller,
            attempt=info.attempt,
            context=request.context,
        )
        started = time.perf_counter()
        rows: PartitionRows | None = None
        attributes = functools.partial(_partition_attributes, request, descriptor)
        with span(f"{batch.action} partition", attributes):
            try:
                if reader is not None:
                    # A local file is read on the loop: a thread hop per partition costs more.
                    rows = (
                        reader.rows(descriptor)
                        if reader.local
                        else await asyncio.to_thread(reader.rows, descriptor)
                    )
                    descriptor = {k: v for k, v in descriptor.items() if k != "bytes"}
                    descriptor["items"] = rows.items
                done.results[partition] = await agent.invoke(batch.action, descriptor, ctx)
            except Exception as exc:  # one partition's failure is reported, not fatal
                done.errors[partition] = f"{type(exc).__name__}: {exc}"
                mark_failed(exc)
            else:
                rejected = _rejections(rows, ctx.rejected)
                if rejected:
                    done.rejected[partition] = rejected
        took_ms = (time.perf_counter() - started) * 1000
        done.busy_ms += took_ms
        done.partition_ms[partition] = round(took_ms, 1)
        if time.monotonic() - last_beat >= every_s:
            activity.heartbeat(done.model_dump(mode="json"))
            last_beat = time.monotonic()


def _partition_attributes(request: ActionRequest, descriptor: dict[str, Any]) -> dict[str, Any]:
    """A partition span's attributes: the swarm (the first part of the batch's key), the
    partition, and its row range when it reads a dataset."""
    rows = descriptor.get("rows")
    return {
        "orchestration.swarm.id": request.idempotency_key.split("/", 1)[0],
        "orchestration.swarm.partition": descriptor["partition"],
        "orchestration.swarm.partitions": descriptor.get("of"),
        "orchestration.swarm.rows": list(rows) if rows else None,
    }


def _rejections(
    rows: PartitionRows | None, by_handler: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The reader's and the handler's rejections; a handler's index into ``items`` becomes
    the dataset's row number when the rows came from a dataset."""
    found = list(rows.rejected) if rows is not None else []
    for entry in by_handler:
        index, reason = entry["item"], str(entry["reason"])[:MAX_REASON]
        if rows is not None and index < len(rows.numbers):
            found.append({"row": rows.numbers[index], "reason": reason})
        else:
            found.append({"item": index, "reason": reason})
    if len(found) > MAX_REJECTED_PER_PARTITION:
        more = len(found) - MAX_REJECTED_PER_PARTITION + 1
        found = [*found[: MAX_REJECTED_PER_PARTITION - 1], {"more": more}]
    return found
