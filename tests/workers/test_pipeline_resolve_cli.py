"""``orchestration pipeline status | resolve`` on a pipeline parked by a FAIL_FAST stage."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from orchestration.clients.pipeline import Pipeline
from tests.workers.cli import cli_env, orchestration
from tests.workflows.pipeline_support import StepAgent, config, running, stage
from workflows.pipeline_models import PipelineStatus


async def test_a_parked_pipeline_resolved_from_the_command_line(
    temporal_dev_env: WorkflowEnvironment, unique: str, tmp_path: Path
) -> None:
    client = temporal_dev_env.client
    a, broken = StepAgent(f"{unique}-a"), StepAgent(f"{unique}-broken")
    pipeline_config = config(
        stage("first", a.ref("inc")),
        stage("broken", broken.ref("fail")),
        stage("last", a.ref("inc")),
    )
    output = tmp_path / "output.json"
    output.write_text(json.dumps(41))
    async with running(client, unique, a, broken) as settings:
        env = {**cli_env(client, settings.task_queue), "COLUMNS": "80"}
        parked = await Pipeline(pipeline_config, settings=settings, client=client).execute(1)
        run = parked.execution_id
        status = await orchestration("pipeline", "status", run, env=env)
        both = await orchestration(
            "pipeline", "resolve", run, "broken", "--retry", "--skip", "--by", "ops",
            "--reason", "x", env=env,
        )  # fmt: skip
        resolved = await orchestration(
            "pipeline", "resolve", run, "broken", "--skip", "--by", "ops", "--reason",
            "entered by hand", "--data-file", str(output), env=env,
        )  # fmt: skip
        done = await Pipeline(pipeline_config, settings=settings, client=client).execute(
            1, execution_id=run
        )
        final = await orchestration("pipeline", "status", run, "--json", env=env)

    assert parked.status is PipelineStatus.NEEDS_INTERVENTION
    assert status.code == 3, status.stderr
    assert f"pipeline {run}" in status.stdout and "NEEDS_INTERVENTION" in status.stdout
    assert f"orchestration pipeline resolve {run} broken --retry --by NAME" in status.stdout
    assert "(or --skip instead of --retry)" in status.stdout
    assert max(len(line) for line in status.stdout.splitlines()) <= 80
    assert both.code == 2 and both.stderr.strip() == "error: choose one of --retry and --skip"
    assert resolved.code == 0, resolved.stderr
    assert done.status is PipelineStatus.COMPLETED_WITH_ERRORS and done.output == 42
    assert final.code == 0 and json.loads(final.stdout)["interventions"][0]["data"] == 41
