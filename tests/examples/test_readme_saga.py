"""The README's "testing your own sagas" example, verbatim: keep the two in step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestration import (
    Agent,
    AgentDescriptor,
    SagaOrchestrator,
    SagaStep,
    SagaTransaction,
    Settings,
)
from orchestration.exceptions import AgentError, SagaError
from workers.orchestration_worker import build_worker

warehouse = Agent(AgentDescriptor(agent_id="warehouse", agent_type="Warehouse"))
reserved: set[str] = set()


@warehouse.action("reserve")
async def reserve(data, ctx):  # type: ignore[no-untyped-def]
    reserved.add(ctx.idempotency_key)
    return {"reserved": data["kg"]}


@warehouse.action("release")
async def release(data, ctx):  # type: ignore[no-untyped-def]
    reserved.clear()
    return {}


@warehouse.action("ship")
async def ship(data, ctx):  # type: ignore[no-untyped-def]
    raise AgentError("no truck available", retriable=False)


async def test_a_failed_shipment_releases_the_reservation(temporal_time_skipping_env):  # type: ignore[no-untyped-def]
    client = temporal_time_skipping_env.client
    settings = Settings(task_queue="my-tests")
    saga = SagaTransaction(
        name="order",
        steps=[
            SagaStep("reserve", "warehouse", "reserve", compensation="release"),
            SagaStep("ship", "warehouse", "ship", depends_on=["reserve"]),
        ],
    )
    async with build_worker(client, settings), warehouse.worker(client):
        orchestrator = SagaOrchestrator(client=client, settings=settings)
        with pytest.raises(SagaError) as failed:
            await orchestrator.execute(saga, {"kg": 40})
    assert failed.value.execution.state == "COMPENSATED"
    assert failed.value.execution.compensated_steps == ["reserve"]
    assert reserved == set()


def test_the_readme_shows_this_file() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("This is\n`tests/examples/test_readme_saga.py`:\n\n```python\n", 1)[1]
    snippet = snippet.split("```", 1)[0]
    ours = {
        re.sub(r"\s+# type: ignore\[[a-z-]+\]", "", line).rstrip()
        for line in Path(__file__).read_text(encoding="utf-8").splitlines()
    }
    ours |= {line.replace("reserved: set[str] = set()", "reserved = set()") for line in ours}
    missing = [line for line in snippet.splitlines() if line.strip() and line not in ours]
    assert missing == [], "README's saga test differs from this file"
