"""ORCH_WORKER_MODULES: extra workflows listed by a module run on the orchestration worker."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from orchestration.core.exceptions import ConfigurationError
from orchestration.core.settings import Settings
from workers.orchestration_worker import build_worker, user_workflows


async def test_a_module_s_workflows_run_on_the_orchestration_worker(
    temporal_dev_env: WorkflowEnvironment, unique: str
) -> None:
    settings = Settings(
        task_queue=f"orch-{unique}", worker_modules=["tests.workers.modules.extra_workflows"]
    )
    client = temporal_dev_env.client
    async with build_worker(client, settings):
        echoed = await client.execute_workflow(
            "EchoForWorkerModules", "hi", id=f"echo-{unique}", task_queue=settings.task_queue
        )
    assert echoed == "hi"


def test_something_that_is_not_a_workflow_or_a_missing_module_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match=r"bad_workflows\.WORKFLOWS holds .*len"):
        user_workflows(Settings(worker_modules=["tests.workers.modules.bad_workflows"]))
    with pytest.raises(ConfigurationError, match="cannot import worker module 'no_such_mod'"):
        user_workflows(Settings(worker_modules=["no_such_mod"]))
