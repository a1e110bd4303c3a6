"""The CSRD report saga of the quick reference: collect → validate → generate [pivot] → publish."""

from __future__ import annotations

from workflows.saga_models import CompensationStrategy, SagaStep, SagaTransaction

__all__ = ["csrd_transaction"]


def csrd_transaction(transaction_id: str | None = None) -> SagaTransaction:
    """The saga; once the report is generated (the pivot) it is never rolled back."""
    fields = {"transaction_id": transaction_id} if transaction_id else {}
    return SagaTransaction(
        name="csrd_report_generation",
        compensation_strategy=CompensationStrategy.BACKWARD,
        steps=[
            SagaStep(
                name="collect_data",
                agent_id="agent-collector",
                action="collect",
                compensation="delete_data",
                timeout_ms=120_000,
            ),
            SagaStep(
                name="validate",
                agent_id="agent-validator",
                action="validate",
                compensation="reset_validation",
                depends_on=["collect_data"],
            ),
            SagaStep(
                name="generate_report",
                agent_id="agent-reporter",
                action="generate",
                is_pivot=True,  # no compensation after this
                depends_on=["validate"],
            ),
            SagaStep(
                name="publish",
                agent_id="agent-publisher",
                action="publish",
                depends_on=["generate_report"],
            ),
        ],
        **fields,
    )
