"""The supplier-emissions pipeline's agents: intake, three calculators, validator, reporter.

- ``<prefix>-intake.collect``: a request ``{"partitions": n, "suppliers_per_partition": m}`` →
  ``{"suppliers": [...], "count": n * m}``, the supplier records of ``examples/swarm``'s
  generated dataset (partitions ``0 .. n-1``, ``m`` suppliers each);
- ``<prefix>-calculator-{0,1,2}.calculate``: one chunk ``{"items": [...], "chunk": i, "of": k}``
  of supplier records → ``{"value": "<kg CO2e>", "suppliers": len(items)}``, the value a decimal
  string so the pipeline's ``sum`` reducer adds the chunks exactly;
- ``<prefix>-validator.flag`` / ``.accept``: the total (a decimal string) → a verdict, flagged
  for review or accepted (the pipeline picks the branch by the total);
- ``<prefix>-reporter.report``: the verdict → a small report (kg and tonnes).

``make_agents(prefix)`` builds a fresh set (tests use unique prefixes); the module-level
agents (prefix ``pipeline``) are the ones ``examples/pipeline/pipeline.py`` and
``examples/inputs/pipeline_emissions.json`` name, e.g.
``orchestration agent examples.pipeline.agents:intake``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, Field, model_validator

from examples.swarm.suppliers import Supplier, supplier_emissions, suppliers
from orchestration import ActionContext, Agent, AgentDescriptor, ServiceType
from orchestration.exceptions import AgentError

__all__ = [
    "AGENTS",
    "CALCULATORS",
    "ChunkRequest",
    "IntakeRequest",
    "PipelineAgents",
    "SupplierRecord",
    "calculators",
    "intake",
    "make_agents",
    "reporter",
    "validator",
]

CALCULATORS = 3
MAX_SUPPLIERS = 10_000
"""The intake refuses bigger requests: the records travel through the workflow history."""


class IntakeRequest(BaseModel):
    """What the pipeline is started with."""

    partitions: int = Field(ge=1, le=1000)
    suppliers_per_partition: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _bounded(self) -> IntakeRequest:
        if self.partitions * self.suppliers_per_partition > MAX_SUPPLIERS:
            raise ValueError(f"at most {MAX_SUPPLIERS} suppliers per run")
        return self


class SupplierRecord(BaseModel):
    supplier_id: str
    sector: str
    region: str
    spend_cents: int = Field(ge=0)


class ChunkRequest(BaseModel):
    """One calculator's share of a MAP_REDUCE stage."""

    items: list[SupplierRecord]
    chunk: int = Field(ge=0)
    of: int = Field(ge=1)


@dataclass(frozen=True)
class PipelineAgents:
    intake: Agent
    calculators: tuple[Agent, ...]
    validator: Agent
    reporter: Agent

    @property
    def all(self) -> tuple[Agent, ...]:
        return (self.intake, *self.calculators, self.validator, self.reporter)


def _agent(agent_id: str, agent_type: str, capability: str, service: ServiceType) -> Agent:
    return Agent(
        AgentDescriptor(
            agent_id=agent_id,
            agent_type=agent_type,
            version="1.0.0",
            capabilities=[capability],
            service_types=[service],
            tags=["pipeline", "example"],
        )
    )


def _total(data: Any, agent_id: str) -> Decimal:
    try:
        total = Decimal(str(data))
    except InvalidOperation:
        total = Decimal("NaN")
    if not total.is_finite() or total < 0:
        raise AgentError(f"{data!r} is not an emissions total in kg", agent_id=agent_id)
    return total


def make_agents(prefix: str = "pipeline") -> PipelineAgents:
    """A fresh set of the pipeline's agents, with ids ``<prefix>-intake`` etc."""
    intake = _agent(
        f"{prefix}-intake", "SupplierIntakeAgent", "supplier_intake", ServiceType.INTEGRATION
    )
    calculators = tuple(
        _agent(
            f"{prefix}-calculator-{n}",
            "SupplierEmissionsCalculator",
            "supplier_emissions",
            ServiceType.COMPUTATION,
        )
        for n in range(CALCULATORS)
    )
    validator = _agent(
        f"{prefix}-validator", "EmissionsValidator", "emissions_validation", ServiceType.VALIDATION
    )
    reporter = _agent(
        f"{prefix}-reporter", "EmissionsReporter", "emissions_reporting", ServiceType.REPORTING
    )

    @intake.action("collect")
    async def collect(data: IntakeRequest, ctx: ActionContext) -> dict[str, Any]:
        records = [
            SupplierRecord(**vars(s)).model_dump()
            for p in range(data.partitions)
            for s in suppliers(p, data.suppliers_per_partition)
        ]
        return {"suppliers": records, "count": len(records)}

    async def calculate(data: ChunkRequest, ctx: ActionContext) -> dict[str, Any]:
        total = sum(
            (supplier_emissions(Supplier(**item.model_dump())) for item in data.items),
            Decimal(0),
        )
        return {"value": format(total, "f"), "suppliers": len(data.items)}

    for calculator in calculators:
        calculator.action("calculate")(calculate)

    @validator.action("flag")
    async def flag(data: Any, ctx: ActionContext) -> dict[str, Any]:
        total = _total(data, ctx.agent_id)
        return {"total_kg": format(total, "f"), "status": "flagged", "review": True}

    @validator.action("accept")
    async def accept(data: Any, ctx: ActionContext) -> dict[str, Any]:
        total = _total(data, ctx.agent_id)
        return {"total_kg": format(total, "f"), "status": "accepted", "review": False}

    @reporter.action("report")
    async def report(data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        kg = _total(data["total_kg"], ctx.agent_id)
        tonnes = (kg / 1000).quantize(Decimal("0.001"), ROUND_HALF_EVEN)
        return {
            "title": "Supplier emissions (scope 3, spend-based)",
            "total_kg": format(kg, "f"),
            "total_t": format(tonnes, "f"),
            "status": data["status"],
            "needs_review": data["review"],
        }

    return PipelineAgents(intake, calculators, validator, reporter)


AGENTS = make_agents()
"""The example's agents (``pipeline-intake``, ``pipeline-calculator-0`` ...)."""
intake = AGENTS.intake
calculators = AGENTS.calculators
validator = AGENTS.validator
reporter = AGENTS.reporter
