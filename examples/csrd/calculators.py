"""Three calculator agents for the CSRD saga's emissions step, found by capability.

``csrd_transaction(calculate_by_capability=True)`` adds a ``calculate_emissions`` step that
names no agent: the orchestration worker asks the registry for an agent with the
``carbon_calculation`` capability, preferring ``eu-west-1``. Two calculators are Temporal
workers, one in each region; the third answers on the bus (a ``kafka://`` endpoint)::

    orchestration agent examples.csrd.calculators:CALCULATORS

``make demo`` kills the preferred one (``calc-eu-1``) just before the saga: the registry
still thinks it healthy, it does not pick the call up, and the step is routed to another.
The calculation reads the collected data and has no effect of its own, so a repeat is safe.
"""

from __future__ import annotations

from typing import Any

from examples.csrd.agents import ReportRequest, emissions_kg
from examples.csrd.workspace import workspace
from orchestration import ActionContext, Agent, AgentDescriptor, ServiceType

__all__ = ["CALCULATORS", "CAPABILITY", "calculator", "eu_calculator"]

CAPABILITY = "carbon_calculation"


def calculator(agent_id: str, location: str, *, on_bus: bool = False) -> Agent:
    """A calculator in ``location``; ``on_bus`` ones answer their Kafka inbox."""
    agent = Agent(
        AgentDescriptor(
            agent_id=agent_id,
            agent_type="EmissionsCalculatorAgent",
            version="2.1.0",
            capabilities=[CAPABILITY],
            service_types=[ServiceType.COMPUTATION],
            tags=["csrd", "example"],
            metadata={"location": location},
            endpoint=f"kafka://{agent_id}" if on_bus else None,
        )
    )

    @agent.action("calculate")
    async def calculate(data: ReportRequest, ctx: ActionContext) -> dict[str, Any]:
        ws = await workspace()
        return {"emissions_kg": emissions_kg(ws.read("data", data.key)), "by": ctx.agent_id}

    return agent


eu_calculator = calculator("calc-eu-1", "eu-west-1")
CALCULATORS = (
    eu_calculator,
    calculator("calc-us-1", "us-east-1"),
    calculator("calc-us-kafka", "us-east-1", on_bus=True),
)
