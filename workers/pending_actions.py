"""``saga_pending_actions{kind}``: the sagas of a worker's task queue waiting for a person.

Counted from Temporal's visibility store (the ``OrchestrationState`` search attribute of
running sagas), not from events the worker saw: a restarted worker, or a second replica,
reports the right number at its first count. Refreshed every
``ORCH_PENDING_ACTIONS_INTERVAL_S``; while visibility is unreachable the last count stays
and a warning says why (once, until it answers again).
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.service import RPCError

from orchestration.core.search_attributes import ORCHESTRATION_STATE, ORCHESTRATION_TYPE
from workflows.metrics import saga_pending_actions
from workflows.saga_models import SagaState

__all__ = ["KINDS", "count_pending_actions", "pending_actions_query", "watch_pending_actions"]

log = logging.getLogger(__name__)

KINDS = {"approval": SagaState.AWAITING_APPROVAL, "intervention": SagaState.NEEDS_INTERVENTION}
"""The gauge's ``kind`` label → the saga state it counts."""


def pending_actions_query(task_queue: str, state: SagaState) -> str:
    """The visibility query of running sagas of ``task_queue`` in ``state``."""
    return (
        f"{ORCHESTRATION_TYPE.name} = 'saga' AND {ORCHESTRATION_STATE.name} = '{state.value}' "
        f"AND ExecutionStatus = 'Running' AND TaskQueue = '{task_queue}'"
    )


async def count_pending_actions(client: Client, task_queue: str) -> dict[str, int]:
    """Count each kind now and set the gauge; return the counts."""
    counts = {}
    for kind, state in KINDS.items():
        counted = await client.count_workflows(pending_actions_query(task_queue, state))
        counts[kind] = counted.count
        saga_pending_actions.labels(kind=kind).set(counted.count)
    return counts


async def watch_pending_actions(client: Client, task_queue: str, interval_s: float) -> None:
    """Count every ``interval_s`` until cancelled."""
    failing = False
    while True:
        try:
            await count_pending_actions(client, task_queue)
        except RPCError as exc:
            if not failing:
                log.warning(
                    "cannot count sagas waiting for people (keeping the last count): %s", exc
                )
            failing = True
        else:
            if failing:
                log.info("counting sagas waiting for people again")
            failing = False
        await asyncio.sleep(interval_s)
