"""The Temporal Web UI pages of sagas waiting for people: an approval, and a parked saga."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.csrd.agents import ALL_AGENTS
from examples.csrd.saga import SIGN_OFF, csrd_transaction
from orchestration.clients.saga import SagaOrchestrator
from orchestration.core.exceptions import SagaCompensationError
from orchestration.core.search_attributes import ORCHESTRATION_STATE
from orchestration.core.settings import SagaConfig, Settings
from tests.webui.browser import CHROMEDRIVER, CHROMIUM, WebUI
from tests.webui.server import TemporalWithUI
from tests.workflows.saga_support import FAST_RETRY, SagaAgent
from workers.orchestration_worker import build_worker
from workflows.saga_models import SagaState, SagaTransaction

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason=f"needs Debian's headless Chromium: apt-get install chromium chromium-driver "
    f"({CHROMIUM}, {CHROMEDRIVER})",
)

CFO = "cfo@acme.example"
REPORT = {"company": "Acme Steel", "period": "2026"}


async def wait_for_state(client: Client, workflow_id: str, state: SagaState) -> None:
    """Until the saga's OrchestrationState search attribute is ``state`` (a deadline)."""
    handle = client.get_workflow_handle(workflow_id)
    async with asyncio.timeout(60):
        while True:
            described = await handle.describe()
            if described.typed_search_attributes.get(ORCHESTRATION_STATE) == state.value:
                return
            await asyncio.sleep(0.2)


def read_views(ui: WebUI, approval_id: str, parked_id: str) -> dict[str, str]:
    """The current details of both sagas, by name, in one browser session."""
    with ui.session():
        ui.read(f"/namespaces/default/workflows/{approval_id}", approval_id, "RUNNING")
        approval = ui.click("User Metadata", "AWAITING_APPROVAL", f"awaiting approval: {SIGN_OFF}")
        ui.shoot("awaiting-approval")
        ui.read(f"/namespaces/default/workflows/{parked_id}", parked_id, "RUNNING")
        parked = ui.click("User Metadata", "NEEDS_INTERVENTION", "needs intervention: a")
        ui.shoot("needs-intervention")
    return {"approval": approval, "parked": parked}


@pytest.mark.usefixtures("csrd_workspace")  # the agents' files and idempotency ledger
async def test_the_web_ui_names_what_a_waiting_saga_needs(
    temporal_with_ui: TemporalWithUI, unique: str, tmp_path: Path
) -> None:
    client = temporal_with_ui.env.client
    settings = Settings(task_queue=f"orch-{unique}", saga=SagaConfig(compensation_retry=FAST_RETRY))
    awaiting = csrd_transaction(f"csrd-signoff-{unique}", sign_off_by=[CFO])
    agent = SagaAgent(f"agent-{unique}", ["a", "b"])
    agent.broken |= {"undo:a", "do:b"}  # b fails before the pivot; undoing a fails for good
    parked = SagaTransaction(
        name="parked", steps=[agent.step("a"), agent.step("b", "a", compensation=None)]
    )
    ui = WebUI(temporal_with_ui.ui_url, screenshots=tmp_path / "screenshots")
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(build_worker(client, settings))
        for csrd_agent in [*ALL_AGENTS, agent.agent]:
            await workers.enter_async_context(csrd_agent.worker(client))
        sagas = SagaOrchestrator(client=client, settings=settings)
        await sagas.start(awaiting, REPORT)
        with pytest.raises(SagaCompensationError):
            await asyncio.wait_for(sagas.execute(parked), timeout=60)
        await wait_for_state(client, awaiting.transaction_id, SagaState.AWAITING_APPROVAL)
        # In a thread: the UI's current-details query is answered by the worker on this loop.
        views = await asyncio.to_thread(
            read_views, ui, awaiting.transaction_id, parked.transaction_id
        )
        await sagas.cancel(awaiting.transaction_id)
        await sagas.resolve(
            parked.transaction_id, "a", action="mark_compensated", by="ops", reason="by hand"
        )

    where = f"screenshots: {[str(p) for p in ui.missed]}"
    assert f"csrd_report_generation: {SagaState.AWAITING_APPROVAL}" in views["approval"], where
    assert f"awaiting approval: {SIGN_OFF} by {CFO}" in views["approval"], where
    assert f"approval by {CFO}" in views["approval"], where  # the step table's agent.action
    details = views["parked"]
    assert f"parked: {SagaState.NEEDS_INTERVENTION}" in details, where
    # the step, the agent and the error, and what resolves it
    assert f"needs intervention: a (compensation) on {agent.agent_id}.undo-a" in details, where
    assert "resolve with retry, mark_compensated" in details, where
    assert not ui.missed, where
