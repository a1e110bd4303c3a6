"""The CSRD report saga of the quick reference: collect → validate → generate [pivot] → publish,
and with ``sign_off_by`` a person's sign-off of the generated report before it is published."""

from __future__ import annotations

from collections.abc import Sequence

from workflows.saga_models import Approval, CompensationStrategy, SagaStep, SagaTransaction

__all__ = ["CALCULATE", "SIGN_OFF", "csrd_transaction"]

SIGN_OFF = "sign_off"
"""The approval step's name, when there is one."""
CALCULATE = "calculate_emissions"
"""The step routed by capability, when there is one."""


def csrd_transaction(
    transaction_id: str | None = None,
    *,
    sign_off_by: Sequence[str] = (),
    calculate_by_capability: bool = False,
) -> SagaTransaction:
    """The saga; once the report is generated (the pivot) it is never rolled back.

    With ``sign_off_by`` (approvers), the report waits for one of them to approve it
    (``orchestration saga approve ID sign_off --by NAME``) before it is published; a
    rejection then parks the saga for an operator, since the report cannot be ungenerated.

    With ``calculate_by_capability``, a ``calculate_emissions`` step after validation is
    routed to an agent with the ``carbon_calculation`` capability (preferring
    ``eu-west-1``; see :mod:`examples.csrd.calculators`), and the report uses its figures.
    """
    fields = {"transaction_id": transaction_id} if transaction_id else {}
    saga = SagaTransaction(
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
    if calculate_by_capability:
        calculate = SagaStep(
            CALCULATE,
            capability="carbon_calculation",
            action="calculate",
            version=">=2,<3",
            location="eu-west-1",
            depends_on=["validate"],
        )
        generate = saga.steps[2].model_copy(update={"depends_on": [CALCULATE]})
        saga = saga.model_copy(
            update={"steps": [*saga.steps[:2], calculate, generate, saga.steps[3]]}
        )
    if not sign_off_by:
        return saga
    sign_off = SagaStep(
        SIGN_OFF, approval=Approval(approvers=list(sign_off_by)), depends_on=["generate_report"]
    )
    publish = saga.steps[-1].model_copy(update={"depends_on": [SIGN_OFF]})
    return saga.model_copy(update={"steps": [*saga.steps[:-1], sign_off, publish]})
