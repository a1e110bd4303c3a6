"""``orchestration swarm deploy``: the example task file, a progress bar, the result as JSON."""

from __future__ import annotations

import contextlib
import json
import re
from decimal import Decimal
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from examples.swarm.agents import make_agents
from examples.swarm.supplier_csv import csv_total, write_suppliers_csv
from examples.swarm.suppliers import sequential_total
from orchestration.core.settings import Settings
from tests.workers.cli import cli_env, orchestration
from workers.orchestration_worker import build_worker

EXAMPLE = Path(__file__).parents[2] / "examples" / "inputs" / "swarm_emissions.json"


async def test_swarm_deploy_runs_the_example_task_and_prints_the_result(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    settings = Settings(task_queue=f"orch-{unique}")
    agents = make_agents(0, 4, prefix=unique)
    task = json.loads(EXAMPLE.read_text())  # the example, scaled down to this test
    task.update(
        data_partitions=20,
        agents_required=4,
        agents=[a.agent_id for a in agents],
        swarm_id=f"swarm-cli-{unique}",
        params={"suppliers_per_partition": 10},
    )
    task["source"].update(
        agent_id=agents[0].agent_id, params={"partitions": 20, "suppliers_per_partition": 10}
    )
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task))
    env = cli_env(client, settings.task_queue, SWARM_MIN_AGENTS="1")
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for agent in agents:
            await workers.enter_async_context(agent.worker(client))
        deployed = await orchestration("swarm", "deploy", str(path), "--json", env=env)
        summary = await orchestration("swarm", "deploy", str(path), env=env)  # attaches
        status = await orchestration("swarm", "status", task["swarm_id"], "--json", env=env)
        table = await orchestration("swarm", "status", task["swarm_id"], env=env)
        missing = await orchestration("swarm", "status", f"no-such-{unique}", env=env)
    assert deployed.code == 0, deployed.stderr
    result = json.loads(deployed.stdout)
    assert Decimal(result["result"]) == sequential_total(20, 10)
    assert result["status"] == "completed"
    assert "partitions" in deployed.stderr  # the progress bar went to stderr
    assert summary.code == 0, summary.stderr
    assert (
        f"swarm {task['swarm_id']} (" in summary.stdout and "completed, converged" in summary.stdout
    )
    assert re.search(rf"^result +{result['result']} *$", summary.stdout, re.M), summary.stdout
    assert "efficiency: the share of the agents' time" in summary.stdout
    assert status.code == 0, status.stderr
    progress = json.loads(status.stdout)
    assert (progress["completed"], progress["partitions"], progress["convergence"]) == (20, 20, 1)
    assert table.code == 0 and "20 / 20" in table.stdout and "100.00%" in table.stdout
    assert missing.code == 1
    assert missing.stderr.strip() == f"error: no swarm with id 'no-such-{unique}'"


async def test_swarm_deploy_names_the_bad_field_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"objective": "x", "data_partitions": 0}))
    result = await orchestration("swarm", "deploy", str(path))
    assert result.code == 2
    assert "data_partitions" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_dataset_swarm_from_the_cli_shows_its_manifest_and_is_redriven(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    settings = Settings(task_queue=f"orch-{unique}")
    agents = make_agents(0, 3, prefix=unique)
    csv_path = write_suppliers_csv(tmp_path / "suppliers.csv", 1_000)
    expected, bad = csv_total(csv_path)
    swarm_id = f"swarm-cli-data-{unique}"
    task = {
        "objective": "Price the supplier export",
        "agents_required": 3,
        "agents": [a.agent_id for a in agents],
        "action": "calculate_rows",
        "source": {"uri": str(csv_path), "rows_per_partition": 100},
        "params": {"failing": [agents[0].agent_id]},  # its partitions fail until redriven
        "max_attempts": 1,
        "max_batch": 1,
        "convergence_threshold": 0.1,
        "result_writer": {"uri": str(tmp_path / "runs")},
        "swarm_id": swarm_id,
    }
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task))
    env = cli_env(client, settings.task_queue, SWARM_MIN_AGENTS="1")
    healthy = [arg for a in agents[1:] for arg in ("--agent", a.agent_id)]
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for agent in agents:
            await workers.enter_async_context(agent.worker(client))
        deployed = await orchestration("swarm", "deploy", str(path), env=env)
        status = await orchestration("swarm", "status", swarm_id, env=env)
        redriven = await orchestration("swarm", "redrive", swarm_id, *healthy, "--json", env=env)
    assert deployed.code == 0, deployed.stderr
    assert "rows" in deployed.stderr and "rejected" in deployed.stderr  # the progress bars
    assert "partial" in deployed.stdout and f"orchestration swarm redrive {swarm_id}" in (
        deployed.stdout.replace("\n", " ").replace("  ", " ")
    )
    assert status.code == 0, status.stderr
    assert f"manifest of {swarm_id}" in status.stdout
    assert "configured to fail" in status.stdout and f"{bad:,}" in status.stdout
    assert redriven.code == 0, redriven.stderr
    result = json.loads(redriven.stdout)
    assert Decimal(result["result"]) == expected and result["redrive_of"] == swarm_id
    assert result["partitions_completed"] == 10
