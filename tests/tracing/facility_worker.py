"""A traced Temporal worker running the bridge example's workflow, for the tracing tests.

Usage: ``python tests/tracing/facility_worker.py TASK_QUEUE`` (Temporal from
``ORCH_TEMPORAL_ADDRESS``, tracing from ``OTEL_*``). Prints ``ready`` once it polls; runs
until SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys

from temporalio.worker import Worker

from examples.bridge.facility_emissions import FacilityEmissionsWorkflow
from orchestration.core import tracing
from orchestration.core.lifecycle import exit_process, wait_for_stop_signal
from orchestration.core.temporal_client import connect


async def main(task_queue: str) -> None:
    tracing.setup("facility-worker")
    client = await connect()
    async with Worker(client, task_queue=task_queue, workflows=[FacilityEmissionsWorkflow]):
        print("ready", flush=True)
        await wait_for_stop_signal()
    tracing.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    exit_process(0)  # the Temporal SDK's threads can crash an ordinary teardown
