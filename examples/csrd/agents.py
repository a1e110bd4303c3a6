"""Four agents for the CSRD report saga: collector, validator, reporter, publisher.

Run any of them as its own process, e.g. ``orchestration agent examples.csrd.agents:collector``,
or all in one with ``examples/csrd/run_saga.py``. Emissions are computed with the factor table
in ``factors.json`` (kg CO2e per unit).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from opentelemetry import trace
from pydantic import BaseModel, Field

from examples.csrd.workspace import Workspace, workspace
from orchestration import ActionContext, Agent, AgentDescriptor, ServiceType
from orchestration.exceptions import AgentError

__all__ = ["ALL_AGENTS", "ReportRequest", "collector", "publisher", "reporter", "validator"]

FACTORS: dict[str, str] = json.loads((Path(__file__).parent / "factors.json").read_text())
"""kg CO2e per unit of each activity, as decimal strings."""

tracer = trace.get_tracer(__name__)
log = logging.getLogger(__name__)


class ReportRequest(BaseModel):
    """The saga's initial data."""

    company: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 ._-]+$")
    period: str = Field(pattern=r"^\d{4}(-Q[1-4])?$")
    facilities: int = Field(default=3, ge=1, le=1000)
    inject_invalid_record: bool = False
    """Makes validation fail, so the saga compensates (for the demo and tests)."""
    publish_failures: int = Field(default=0, ge=0, le=10)
    """The publisher fails this many attempts first (forward recovery after the pivot)."""
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    """Each action waits this long after applying its effect, as a slow system would; the
    reliability tests kill agents in that window, after the effect and before the reply."""

    @property
    def key(self) -> str:
        return f"{self.company.replace(' ', '_')}-{self.period}"


def _agent(agent_id: str, agent_type: str, capability: str, service: ServiceType) -> Agent:
    return Agent(
        AgentDescriptor(
            agent_id=agent_id,
            agent_type=agent_type,
            version="1.0.0",
            capabilities=[capability],
            service_types=[service],
            tags=["csrd", "example"],
        )
    )


collector = _agent(
    "agent-collector", "DataCollectorAgent", "data_collection", ServiceType.INTEGRATION
)
validator = _agent(
    "agent-validator", "DataValidatorAgent", "data_validation", ServiceType.VALIDATION
)
reporter = _agent("agent-reporter", "ReportGeneratorAgent", "csrd_reporting", ServiceType.REPORTING)
publisher = _agent(
    "agent-publisher", "ReportPublisherAgent", "report_publishing", ServiceType.INTEGRATION
)
ALL_AGENTS = (collector, validator, reporter, publisher)


def activity_records(request: ReportRequest) -> list[dict[str, Any]]:
    """Deterministic activity data per facility (what a real collector would fetch)."""
    records = []
    for n in range(1, request.facilities + 1):
        records.append(
            {"facility": f"F{n:03d}", "activity": "diesel_litres", "quantity": str(1000 * n + 250)}
        )
        records.append(
            {"facility": f"F{n:03d}", "activity": "electricity_kwh", "quantity": str(50_000 * n)}
        )
    if request.inject_invalid_record:
        records.append({"facility": "F999", "activity": "diesel_litres", "quantity": "-40"})
    return records


async def _applied(
    ws: Workspace,
    data: ReportRequest,
    ctx: ActionContext,
    effect: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Apply ``effect`` once per idempotency key, then wait out the request's latency."""
    result = dict(await ws.once(ctx, effect))
    if data.latency_ms:
        await asyncio.sleep(data.latency_ms / 1000)
    return result


@collector.action("collect")
async def collect(data: ReportRequest, ctx: ActionContext) -> dict[str, Any]:
    ws = await workspace()

    async def effect() -> dict[str, Any]:
        records = activity_records(data)
        path = ws.write("data", data.key, records)
        return {"records": len(records), "path": str(path)}

    return await _applied(ws, data, ctx, effect)


@collector.action("delete_data")
async def delete_data(data: ReportRequest, ctx: ActionContext) -> dict[str, Any]:
    ws = await workspace()

    async def effect() -> dict[str, Any]:
        return {"deleted": ws.remove("data", data.key)}

    return await _applied(ws, data, ctx, effect)


@validator.action("validate")
async def validate(data: ReportRequest, ctx: ActionContext) -> dict[str, Any]:
    ws = await workspace()
    records = ws.read("data", data.key)
    # The handler's own span (the OpenTelemetry API): with tracing on it nests under the
    # step's span on this agent; off, it costs nothing.
    with tracer.start_as_current_span("csrd.check_records") as checking:
        problems = [
            f"{r['facility']}: {r['activity']} quantity {r['quantity']} is negative"
            for r in records
            if Decimal(r["quantity"]) < 0
        ]
        problems += [
            f"{r['facility']}: unknown activity {r['activity']}"
            for r in records
            if r["activity"] not in FACTORS
        ]
        checking.set_attributes({"csrd.records": len(records), "csrd.problems": len(problems)})
        if problems:
            log.info("%s: %d record(s) rejected", data.key, len(problems))
    if problems:
        # Bad data will not get better by retrying: fail now, the saga compensates.
        raise AgentError("validation failed: " + "; ".join(problems), agent_id=ctx.agent_id)

    async def effect() -> dict[str, Any]:
        ws.write("validated", data.key, {"records": len(records)})
        return {"valid": True, "records": len(records)}

    return await _applied(ws, data, ctx, effect)


@validator.action("reset_validation")
async def reset_validation(data: ReportRequest, ctx: ActionContext) -> dict[str, Any]:
    ws = await workspace()

    async def effect() -> dict[str, Any]:
        return {"reset": ws.remove("validated", data.key)}

    return await _applied(ws, data, ctx, effect)


def emissions_kg(records: list[dict[str, Any]]) -> dict[str, str]:
    """Scope 1 (fuel) and scope 2 (electricity) in kg CO2e, to the gram."""
    scope = {"diesel_litres": "scope1", "electricity_kwh": "scope2"}
    totals = {"scope1": Decimal(0), "scope2": Decimal(0)}
    for record in records:
        totals[scope[record["activity"]]] += Decimal(record["quantity"]) * Decimal(
            FACTORS[record["activity"]]
        )
    grams = Decimal("0.001")
    return {k: str(v.quantize(grams, rounding=ROUND_HALF_UP)) for k, v in totals.items()}


@reporter.action("generate")
async def generate(data: ReportRequest, ctx: ActionContext) -> dict[str, Any]:
    ws = await workspace()

    # A saga with a calculate_emissions step (routed to a calculator) gives its figures.
    calculated = ctx.context.get("dependencies", {}).get("calculate_emissions")

    async def effect() -> dict[str, Any]:
        if calculated is not None:
            totals = calculated["emissions_kg"]
        else:
            with tracer.start_as_current_span("csrd.emissions_kg"):
                totals = emissions_kg(ws.read("data", data.key))
        report = {"company": data.company, "period": data.period, "emissions_kg": totals}
        path = ws.write("reports", data.key, report)
        return {"path": str(path), **report}

    return await _applied(ws, data, ctx, effect)


@publisher.action("publish")
async def publish(data: ReportRequest, ctx: ActionContext) -> dict[str, Any]:
    if ctx.attempt <= data.publish_failures:
        raise AgentError(
            f"publication portal unavailable (attempt {ctx.attempt})",
            agent_id=ctx.agent_id,
            retriable=True,
        )
    ws = await workspace()

    async def effect() -> dict[str, Any]:
        report = ws.read("reports", data.key)
        path = ws.write("published", data.key, report)
        return {"published": str(path)}

    return await _applied(ws, data, ctx, effect)
