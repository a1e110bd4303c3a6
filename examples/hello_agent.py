"""The smallest agent: one action, ``greet``.

Run it on its own against a running stack::

    orchestration agent examples.hello_agent:agent
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from orchestration import ActionContext, Agent, AgentDescriptor, ServiceType

agent = Agent(
    AgentDescriptor(
        agent_id="agent-hello",
        agent_type="HelloAgent",
        version="1.0.0",
        capabilities=["greeting"],
        service_types=[ServiceType.COMPUTATION],
        tags=["demo", "local"],
    )
)


class GreetInput(BaseModel):
    name: str = Field(min_length=1, max_length=100)


@agent.action("greet")
async def greet(data: GreetInput, ctx: ActionContext) -> dict[str, Any]:
    return {
        "greeting": f"Hello, {data.name}!",
        "agent_id": ctx.agent_id,
        "idempotency_key": ctx.idempotency_key,
        "attempt": ctx.attempt,
    }
