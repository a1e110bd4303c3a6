"""The Temporal Web UI page of a compensated CSRD saga shows its state and its steps."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from urllib.parse import quote

import pytest

from examples.csrd.agents import ALL_AGENTS
from examples.csrd.saga import csrd_transaction
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import SagaError
from orchestration.core.settings import Settings
from tests.webui.browser import CHROMEDRIVER, CHROMIUM, WebUI
from tests.webui.server import TemporalWithUI
from workers.orchestration_worker import build_worker
from workflows.saga_models import SagaState

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason=f"needs Debian's headless Chromium: apt-get install chromium chromium-driver "
    f"({CHROMIUM}, {CHROMEDRIVER})",
)

INVALID_REPORT = {"company": "Beta Cement", "period": "2025", "inject_invalid_record": True}
"""Validation fails on its negative record, so the saga compensates (as in the demo)."""

STEP_SUMMARIES = (
    "step collect_data: agent-collector.collect",
    "step validate: agent-validator.validate",
    "compensate collect_data: agent-collector.delete_data",
)
"""The activity summaries the saga sets; the timeline labels each activity with one."""


def read_saga_views(ui: WebUI, workflow_id: str, run_id: str) -> dict[str, str]:
    """Every view of the saga the test checks, by name, in one browser session."""
    with ui.session():
        page = ui.read(
            f"/namespaces/default/workflows/{workflow_id}", workflow_id, "FAILED", *STEP_SUMMARIES
        )
        ui.shoot("saga-page")
        search_attributes = ui.click("Search Attributes", '"OrchestrationState": "COMPENSATED"')
        details = ui.click(
            "User Metadata",
            "csrd_report_generation: COMPENSATED",
            "saga csrd_report_generation: 4 steps, BACKWARD compensation",
        )
        query = 'OrchestrationType="saga" AND OrchestrationState="COMPENSATED"'
        listed = ui.read(f"/namespaces/default/workflows?query={quote(query)}", run_id)
        ui.shoot("saga-list")
    return {
        "page": page,
        "search attributes": search_attributes,
        "current details": details,
        "list": listed,
    }


@pytest.mark.usefixtures("csrd_workspace")  # the agents' files and idempotency ledger
async def test_the_web_ui_shows_a_compensated_saga_with_its_state_and_steps(
    temporal_with_ui: TemporalWithUI, unique: str, tmp_path: Path
) -> None:
    client = temporal_with_ui.env.client
    settings = Settings(task_queue=f"orch-{unique}")
    saga = csrd_transaction(f"csrd-webui-{unique}")
    ui = WebUI(temporal_with_ui.ui_url, screenshots=tmp_path / "screenshots")
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for agent in ALL_AGENTS:
            await workers.enter_async_context(agent.worker(client))
        orchestrator = SagaOrchestrator(client=client, settings=settings)
        with pytest.raises(SagaError) as failed:
            await asyncio.wait_for(orchestrator.execute(saga, INVALID_REPORT), timeout=60)
        assert failed.value.execution.state == SagaState.COMPENSATED
        run_id = (await client.get_workflow_handle(saga.transaction_id).describe()).run_id
        # In a thread: the UI's current-details query is answered by the worker on this loop.
        views = await asyncio.to_thread(read_saga_views, ui, saga.transaction_id, run_id)

    where = f"screenshots: {[str(p) for p in ui.missed]}"
    page = views["page"]
    assert "FAILED" in page, where  # Temporal's own status: the saga fails after compensating
    for summary in STEP_SUMMARIES:
        assert summary in page, where
    assert "saga 'csrd_report_generation' compensated" in page, where
    # The Result pane: the business failure's message, not the SDK's Python stack trace.
    assert "stackTrace" not in page and "_workflow_instance.py" not in page, where
    assert '"OrchestrationState": "COMPENSATED"' in views["search attributes"], where
    assert '"OrchestrationType": "saga"' in views["search attributes"], where
    assert '"OrchestrationName": "csrd_report_generation"' in views["search attributes"], where
    details = views["current details"]
    assert "csrd_report_generation: COMPENSATED" in details, where
    assert "compensated: collect_data" in details, where
    assert "failed: validate" in details, where
    # the definition, set when the saga started: a summary line and a table of the steps
    assert "saga csrd_report_generation: 4 steps, BACKWARD compensation" in details, where
    assert "generate_report (pivot)" in details, where
    assert saga.transaction_id in views["list"], where
    assert not ui.missed, where
