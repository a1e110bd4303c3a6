"""Record workflow histories for the replay test: run from the repository root.

Only histories that are not recorded yet are written (the recorded ones are what running
workflows must keep replaying); ``--overwrite`` records every one again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from orchestration.core.temporal_client import DATA_CONVERTER, ensure_search_attributes
from orchestration.stack.binaries import temporal_test_server_path
from tests.workflows.test_replay import (
    record,
    record_cancelled_saga,
    record_operated_saga,
    record_pipeline,
    record_routed_saga,
    record_saga,
    record_swarm,
    record_unpolled,
)

Recorder = Callable[[Client, str], Awaitable[WorkflowHistory]]

RECORDINGS: dict[str, Recorder] = {
    "agent_task_completed": lambda c, i: record(c, i, {"name": "Ada"}),
    "agent_task_failed": lambda c, i: record(c, i, {"nom": "x"}),
    "saga_completed": lambda c, i: record_saga(c, i, None),
    "saga_compensated": lambda c, i: record_saga(c, i, "d"),
    "saga_cancelled": record_cancelled_saga,
    "swarm_swarming": lambda c, i: record_swarm(c, i, "swarming"),
    "swarm_foraging": lambda c, i: record_swarm(c, i, "foraging"),
    # The next four were recorded before rules revision 2 (they replay with revision 1).
    "swarm_dispersing": lambda c, i: record_swarm(c, i, "dispersing"),
    "swarm_migrating": lambda c, i: record_swarm(c, i, "migrating"),
    "swarm_clustering": lambda c, i: record_swarm(c, i, "clustering"),
    "swarm_flocking": lambda c, i: record_swarm(c, i, "flocking"),
    "pipeline_completed": lambda c, i: record_pipeline(c, i, False),
    "pipeline_parked": lambda c, i: record_pipeline(c, i, True),
    "agent_task_unpolled": lambda c, i: record_unpolled(c, i, "agent_task"),
    "saga_unpolled": lambda c, i: record_unpolled(c, i, "saga"),
    "pipeline_unpolled": lambda c, i: record_unpolled(c, i, "pipeline"),
    "saga_approved": lambda c, i: record_operated_saga(c, i, "approved"),
    "saga_rejected": lambda c, i: record_operated_saga(c, i, "rejected"),
    "saga_routed": record_routed_saga,
    "saga_localrouting": record_routed_saga,
}
"""History file name (also the workflow id) → how to record it."""


async def main(overwrite: bool) -> None:
    out = Path(__file__).parent / "histories"
    missing = {n: r for n, r in RECORDINGS.items() if overwrite or not (out / f"{n}.json").exists()}
    for name in sorted(set(RECORDINGS) - set(missing)):
        print("kept", name)
    if not missing:
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server_path(),
        data_converter=DATA_CONVERTER,
    )
    async with env:
        await ensure_search_attributes(env.client, env.client.namespace)
        for name, recorder in missing.items():
            history = await recorder(env.client, name)
            (out / f"{name}.json").write_text(history.to_json())
            print("recorded", name, len(history.events), "events")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--overwrite", action="store_true", help="record the existing histories again too"
    )
    asyncio.run(main(parser.parse_args().overwrite))
