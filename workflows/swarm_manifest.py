"""What a swarm's manifest says (``ResultWriter``): written at the end by the orchestration
worker as ``<uri>/<swarm id>/manifest.json``.

- the verdict and the figures of the result (``status``, ``convergence``, ``result``);
- ``accumulator``: the reducer's state, which ``redrive`` goes on from;
- ``failed``: every partition that failed for good (its data reference, attempts, the
  agents it failed on, its last error), the first ``MAX_FAILURE_DETAILS`` in full and any
  more as ranges in ``failed_not_listed``; ``not_run``: partitions never run (a swarm that
  gave up or ran out of time), as ranges;
- ``rows_rejected`` and ``rejected``: the rows handlers or the reader rejected (the first
  ``MAX_REJECTED``, with partition, row number and reason);
- ``agents``: each agent's statistics.

Pure (workflow code builds it).
"""

from __future__ import annotations

from typing import Any

from workflows.ranges import format_ranges
from workflows.swarm_files import DatasetSource
from workflows.swarm_models import SourceRef, SwarmTask
from workflows.swarm_plan import PartitionPlan
from workflows.swarm_state import FAILED, MAX_FAILURE_DETAILS, PENDING, SwarmState

__all__ = ["MANIFEST_VERSION", "build_manifest"]

MANIFEST_VERSION = 1
_FROM_RESULT = ("status", "converged", "partial", "convergence", "duration_ms", "partitions",
                "partitions_completed", "partitions_failed", "items_total", "items_processed",
                "runs", "result")  # fmt: skip


def _source(task: SwarmTask, plan: PartitionPlan) -> dict[str, Any]:
    if isinstance(task.source, DatasetSource) and plan.dataset is not None:
        return {"kind": "dataset", "uri": task.source.uri, "format": task.source.format,
                "rows": plan.dataset.rows, "columns": task.source.columns}  # fmt: skip
    if task.items is not None:
        return {"kind": "items", "items": len(task.items)}
    if isinstance(task.source, SourceRef):
        return {"kind": "source", "agent_id": task.source.agent_id, "action": task.source.action}
    return {"kind": "indexed", "items_per_partition": task.items_per_partition}


def build_manifest(
    task: SwarmTask, plan: PartitionPlan, state: SwarmState, result: dict[str, Any], now: str
) -> dict[str, Any]:
    """The manifest of a swarm that ended with ``result`` (see the module docstring)."""
    failed = [p for p, s in enumerate(state.status) if s == FAILED]
    listed = failed[:MAX_FAILURE_DETAILS]
    return {
        "manifest_version": MANIFEST_VERSION,
        "swarm_id": task.swarm_id,
        "objective": task.objective,
        "written_at": now,
        "redrive_of": task.redrive.of if task.redrive is not None else None,
        "source": _source(task, plan),
        **{key: result[key] for key in _FROM_RESULT},
        "reducer": task.reducer,
        "accumulator": state.reduction.accumulator,
        "failed": [
            {
                "partition": p,
                **plan.reference(task, p),
                "attempts": state.attempts[p],
                "agents": state.failed_on.get(p, []),
                "last_error": state.last_error.get(p),
            }
            for p in listed
        ],
        "failed_not_listed": format_ranges(failed[MAX_FAILURE_DETAILS:]),
        "not_run": format_ranges(p for p, s in enumerate(state.status) if s == PENDING),
        "rows_rejected": state.rejected_count,
        "rejected": state.rejected,
        "agents": result["agents"],
    }
