"""Record workflow histories for the replay test: run from the repository root."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestration.binaries import temporal_test_server_path
from orchestration.temporal_client import ensure_search_attributes
from tests.workflows.test_replay import record, record_saga, record_swarm


async def main() -> None:
    out = Path(__file__).parent / "histories"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server_path(),
        data_converter=pydantic_data_converter,
    )
    async with env:
        await ensure_search_attributes(env.client, env.client.namespace)
        for name, data in (("completed", {"name": "Ada"}), ("failed", {"nom": "x"})):
            history = await record(env.client, f"agent_task_{name}", data)
            (out / f"agent_task_{name}.json").write_text(history.to_json())
            print("recorded", name, len(history.events), "events")
        for name, fail in (("completed", None), ("compensated", "d")):
            history = await record_saga(env.client, f"saga_{name}", fail)
            (out / f"saga_{name}.json").write_text(history.to_json())
            print("recorded saga", name, len(history.events), "events")
        for behavior in ("swarming", "foraging"):
            history = await record_swarm(env.client, f"swarm_{behavior}", behavior)
            (out / f"swarm_{behavior}.json").write_text(history.to_json())
            print("recorded swarm", behavior, len(history.events), "events")


if __name__ == "__main__":
    asyncio.run(main())
