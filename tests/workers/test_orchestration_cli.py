"""``orchestration saga | agents | bench | examples``: exit codes and one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from examples.csrd.agents import ALL_AGENTS
from examples.csrd.workspace import Workspace
from orchestration.core.settings import Settings
from registry.local_registry import LocalAgentRegistry
from registry.models import AgentDescriptor, ServiceType
from tests.workers.cli import cli_env, orchestration
from tests.workers.test_saga_cli import CSRD_INPUT
from workers.orchestration_worker import build_worker

STEPS = ("collect_data", "validate", "generate_report", "publish")


async def test_saga_start_status_and_list_exit_by_how_the_saga_ended(
    temporal_dev_env: WorkflowEnvironment, unique: str, csrd_workspace: Workspace
) -> None:
    client = temporal_dev_env.client
    settings = Settings(task_queue=f"orch-{unique}")
    env = cli_env(client, settings.task_queue)
    ok, bad = f"csrd-ok-{unique}", f"csrd-bad-{unique}"
    invalid = json.dumps({"company": "Beta", "period": "2025", "inject_invalid_record": True})
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for agent in ALL_AGENTS:
            await workers.enter_async_context(agent.worker(client))
        completed = await orchestration("saga", "start", str(CSRD_INPUT), "--id", ok, env=env)
        again = await orchestration("saga", "start", str(CSRD_INPUT), "--id", ok, env=env)
        compensated = await orchestration(
            "saga", "start", str(CSRD_INPUT), "--id", bad, "--data", invalid, env=env
        )
        status = await orchestration("saga", "status", bad, "--json", env=env)
        table = await orchestration("saga", "status", ok, env=env)
        not_waiting = await orchestration(
            "saga", "start", str(CSRD_INPUT), "--id", f"csrd-nowait-{unique}", "--no-wait", env=env
        )
        missing = await orchestration("saga", "status", f"nope-{unique}", env=env)
        deadline = time.monotonic() + 30
        while True:  # the visibility store may lag the workflows' ends
            listed = await orchestration(
                "saga", "list", "--state", "compensated", "--limit", "500", "--json", env=env
            )
            ids = {row["transaction_id"] for row in json.loads(listed.stdout)}
            if bad in ids or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)

    assert completed.code == 0, completed.stderr
    assert "COMPLETED" in completed.stdout and all(step in completed.stdout for step in STEPS)
    assert f"/namespaces/default/workflows/{ok}" in completed.stderr  # the Web UI link
    assert again.code == 0 and f"saga {ok} already exists: following it" in again.stderr
    assert "started" not in again.stderr  # it was not started twice, and does not say so
    assert compensated.code == 1, compensated.stderr
    assert "COMPENSATED" in compensated.stdout and "compensated: collect_data" in compensated.stdout
    execution = json.loads(status.stdout)
    assert status.code == 1
    assert (execution["state"], execution["failed_step"]) == ("COMPENSATED", "validate")
    assert table.code == 0 and "COMPLETED" in table.stdout
    assert not_waiting.code == 0 and "started" in not_waiting.stderr
    assert missing.code == 1
    assert missing.stderr.strip() == f"error: no saga with transaction id 'nope-{unique}'"
    assert listed.code == 0 and bad in ids and ok not in ids


async def test_saga_start_refuses_a_bad_file_naming_the_field_and_starts_nothing(
    tmp_path: Path,
) -> None:
    document = json.loads(CSRD_INPUT.read_text())
    document["transaction"]["steps"][1]["depends_on"] = ["no_such_step"]
    path = tmp_path / "saga.json"
    path.write_text(json.dumps(document))
    env = {"ORCH_TEMPORAL_ADDRESS": "127.0.0.1:1"}  # nothing may be contacted
    broken = await orchestration("saga", "start", str(path), env=env)
    assert broken.code == 2
    assert "no_such_step" in broken.stderr and "Traceback" not in broken.stderr
    not_json = tmp_path / "x.json"
    not_json.write_text("{")
    result = await orchestration("saga", "start", str(not_json), env=env)
    assert result.code == 2 and "is not valid JSON" in result.stderr
    result = await orchestration("saga", "start", str(CSRD_INPUT), "--data", "{", env=env)
    assert result.code == 2 and result.stderr.startswith("error: --data is not valid JSON")


async def test_agents_list_and_discover_read_the_registry(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/registry.db"
    registry = LocalAgentRegistry(url)
    await registry.initialize()
    try:
        for n, region in enumerate(("us-east-1", "eu-west-1", "us-east-1")):
            await registry.register(
                AgentDescriptor(
                    agent_id=f"calc-{n}",
                    agent_type="CarbonCalculatorAgent",
                    version=f"2.{n}.0",
                    capabilities=["carbon_calculation"],
                    service_types=[ServiceType.COMPUTATION],
                    tags=[region],
                )
            )
        await registry.register(
            AgentDescriptor(agent_id="collector", agent_type="Collector", capabilities=["collect"])
        )
    finally:
        await registry.close()
    env = {"ORCH_DATABASE_URL": url}
    listed = await orchestration("agents", "list", "--json", env=env)
    found = await orchestration(
        "agents", "discover", "--capability", "carbon_calculation", "--version", ">=2.1",
        "--location", "eu-west-1", "--json", env=env,
    )  # fmt: skip
    table = await orchestration("agents", "list", env=env)
    bad = await orchestration("agents", "list", "--status", "sleepy", env=env)
    assert listed.code == 0, listed.stderr
    ids = [row["descriptor"]["agent_id"] for row in json.loads(listed.stdout)]
    assert ids == ["calc-0", "calc-1", "calc-2", "collector"]
    assert found.code == 0, found.stderr
    assert [row["descriptor"]["agent_id"] for row in json.loads(found.stdout)] == [
        "calc-1",  # the preferred location first
        "calc-2",
    ]
    assert table.code == 0 and "calc-0" in table.stdout and "4 agent(s)" in table.stdout
    assert bad.code == 2 and "sleepy" in bad.stderr


async def test_bench_quick_prints_json_rows_and_examples_rejects_an_unknown_name() -> None:
    bench = await orchestration("bench", "--component", "routing", "--quick", "--json")
    assert bench.code in (0, 1), bench.stderr  # 1: a tiny run may miss a target
    rows = json.loads(bench.stdout)
    assert rows and {row["component"] for row in rows} == {"routing"}
    keys = {"component", "metric", "unit", "target", "achieved", "min", "max", "baseline"}
    assert all(keys | {"ratio", "passed"} == set(row) for row in rows)
    unknown = await orchestration("examples", "nonsense")
    assert unknown.code == 2 and "nonsense" in unknown.stderr


async def test_saga_start_refuses_a_step_whose_agent_nobody_runs_unless_told_not_to_check(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    settings = Settings(task_queue=f"orch-{unique}")
    env = cli_env(client, settings.task_queue, SAGA_STEP_START_TIMEOUT_MS="1000")
    document = json.loads(CSRD_INPUT.read_text())
    document["transaction"]["steps"][1]["agent_id"] = f"agent-validatr-{unique}"  # misspelt
    path = tmp_path / "saga.json"
    path.write_text(json.dumps(document))
    refused_id, started_id = f"csrd-refused-{unique}", f"csrd-unchecked-{unique}"
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for agent in ALL_AGENTS:
            await workers.enter_async_context(agent.worker(client))
        refused = await orchestration("saga", "start", str(path), "--id", refused_id, env=env)
        unchecked = await orchestration(
            "saga", "start", str(path), "--id", started_id, "--no-check", env=env
        )

    assert refused.code == 2, refused.stderr
    assert (
        f"no worker polls the task queue of steps.1.agent_id agent-validatr-{unique}"
        in refused.stderr
    )
    assert "--no-check" in refused.stderr
    with pytest.raises(RPCError, match="not found"):  # nothing was started
        await client.get_workflow_handle(refused_id).describe()
    assert unchecked.code == 1, unchecked.stderr  # started; the step failed; compensated
    assert "COMPENSATED" in unchecked.stdout
    assert f"no worker polls task queue agent-validatr-{unique}" in unchecked.stdout
