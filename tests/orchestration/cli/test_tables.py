"""Every table the CLI prints reads at 80 columns: nothing cut, no line wider than the screen."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from rich.console import Console, RenderableType

from orchestration.cli.agents import agents_table
from orchestration.cli.saga import sagas_table, steps_table
from orchestration.cli.swarm import progress_table, result_table
from registry.models import AgentDescriptor, AgentStatus
from registry.records import RegisteredAgent
from swarm.scheduling import SwarmBehavior
from workflows.saga_models import SagaExecution, SagaState, SagaStep, SagaTransaction, StepState
from workflows.swarm_models import SwarmProgress

LONG_ID = "agent-data-collector-eu-west-1-replica-0007"
ERROR = (
    "AgentError: validation failed: F999: diesel_litres quantity -40 is negative, and the "
    "record cannot be published before it is corrected at its source (non-retryable)"
)


def rendered(renderable: RenderableType, width: int = 80) -> list[str]:
    console = Console(file=StringIO(), width=width, color_system=None, highlight=False)
    console.print(renderable, crop=False)  # a line too wide shows as too wide
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return [line.rstrip() for line in output.splitlines()]


def column(lines: list[str], header: str, next_header: str | None = None) -> str:
    """The text of one column (up to ``next_header``, else the last), its folded lines put
    back together (to find whole ids)."""
    rule = next(n for n, line in enumerate(lines) if line.startswith("─"))
    heading = lines[rule - 1]
    start = heading.index(header)
    end = heading.index(next_header) if next_header else None
    return "".join(line[start:end].strip() for line in lines[rule + 1 :])


def saga_execution() -> SagaExecution:
    transaction = SagaTransaction(
        transaction_id="csrd-webui-9fab2d2c2c38",
        name="csrd_report_generation",
        steps=[
            SagaStep("collect_data", LONG_ID, "collect", compensation="delete_data"),
            SagaStep("validate", "agent-validator", "validate", depends_on=["collect_data"]),
        ],
    )
    execution = SagaExecution.pending(transaction.transaction_id, transaction)
    execution.state = SagaState.COMPENSATED
    execution.steps["collect_data"].state = StepState.COMPENSATION_FAILED
    execution.steps["collect_data"].compensation_error = ERROR
    execution.steps["validate"].state = StepState.FAILED
    execution.steps["validate"].error = ERROR
    execution.compensated_steps = []
    return execution


def agents() -> list[RegisteredAgent]:
    return [
        RegisteredAgent(
            descriptor=AgentDescriptor(
                agent_id=f"{LONG_ID}-{n}",
                agent_type="DataCollectorAgentForEuropeanSuppliers",
                version="2.10.0-rc1",
                capabilities=["data_collection", "scope3_emissions", "supplier_onboarding"],
            ),
            status=AgentStatus.DEGRADED,
            health_score=0.875,
            location="eu-west-1",
            registered_at=datetime(2026, 12, 2, tzinfo=UTC),
        )
        for n in range(3)
    ]


def swarm_result() -> dict[str, Any]:
    return {
        "swarm_id": "supplier-emissions-2024-q4-europe-and-asia",
        "behavior": "foraging",
        "status": "partial",
        "converged": True,
        "convergence": 0.9712,
        "convergence_threshold": 0.95,
        "convergence_time_ms": 5212.4,
        "duration_ms": 61234.567,
        "iterations": 2048,
        "runs": 3,
        "efficiency": 0.0034816597612635585,
        "result": "245099326.38",
        "partitions": 10_000,
        "partitions_completed": 9_712,
        "partitions_failed": 288,
        "items_total": 1_000_000,
        "items_processed": 971_200,
        "evaluations_per_s": 15860.2,
        "error_count": 288,
    }


TABLES = {
    "saga status": lambda width: steps_table(saga_execution(), width=width),
    "saga list": lambda width: sagas_table(
        [
            {
                "transaction_id": f"csrd-webui-9fab2d2c2c38-{n}",
                "name": "csrd_report_generation",
                "state": "COMPENSATION_FAILED" if n else "COMPENSATED",
                "started_at": "2026-12-02T04:01:17+00:00",
                "closed_at": "2026-12-02T04:01:18+00:00",
                "duration_ms": 1234.5,
            }
            for n in range(3)
        ],
        width=width,
    ),
    "agents list": lambda width: agents_table(agents(), "3 agent(s)", width=width),
    "swarm deploy": lambda width: result_table(swarm_result(), width=width),
    "swarm status": lambda width: progress_table(
        SwarmProgress(
            swarm_id="supplier-emissions-2024-q4-europe-and-asia",
            behavior=SwarmBehavior.SWARMING,
            partitions=10_000,
            completed=9_000,
            failed=12,
            in_flight=100,
            pending=888,
            items_total=1_000_000,
            items_done=900_000,
            convergence=0.9,
            iterations=120,
            elapsed_ms=125_000.0,
            runs=2,
        ),
        width=width,
    ),
}


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("width", [80, 60])
def test_tables_fit_the_terminal_and_cut_nothing(name: str, width: int) -> None:
    lines = rendered(TABLES[name](width), width)
    assert max(len(line) for line in lines) <= width, "\n".join(lines)
    assert not any("…" in line for line in lines), "\n".join(lines)


def test_the_saga_table_shows_ids_states_and_whole_errors() -> None:
    lines = rendered(TABLES["saga status"](80))
    assert LONG_ID in column(lines, "agent", "state")
    assert "COMPENSATION_FAILED" in "\n".join(lines)  # a state is never folded
    errors = "".join(line.strip() for line in lines[lines.index("errors:") + 1 :])
    assert ERROR.replace(" ", "") in errors.replace(" ", "")  # the error, whole
    assert any(line.startswith("errors:") for line in lines)


def test_the_agents_and_swarm_tables_keep_ids_and_round_figures() -> None:
    for width in (80, 60):
        lines = rendered(TABLES["agents list"](width), width)
        ids = column(lines, "agent", "status")
        assert all(f"{LONG_ID}-{n}" in ids for n in range(3)), "\n".join(lines)
        capabilities = column(lines, "capabilities")
        assert capabilities.count("supplier_onboarding") == 3, "\n".join(lines)
    summary = "\n".join(rendered(TABLES["swarm deploy"](80)))
    assert re.search(r"^efficiency +0\.3%", summary, re.M), summary
    assert "0.0034816597612635585" not in summary
    assert "1.0 min (converged after 5.2 s), 2,048 rounds" in summary
    assert "busy time / (agents x duration)" in summary.replace("\n", " ")
