"""An agent that answers on the bus: its actions, served from its Kafka inbox.

The same :class:`activities.agent.Agent` a Temporal worker runs can answer on the bus
instead (an agent with Kafka and no Temporal connection), registered with
``endpoint="kafka://<agent_id>"`` so that saga steps, pipeline stages and agent tasks call
it by id or by capability (see :mod:`activities.kafka_calls`)::

    agent = Agent(AgentDescriptor(agent_id="calc-kafka", agent_type="Calculator",
                                  capabilities=["carbon_calculation"],
                                  endpoint="kafka://calc-kafka"))

    @agent.action("calculate")
    async def calculate(data: dict, ctx: ActionContext) -> dict: ...

    server = await bus.serve(agent.agent_id, kafka_handler(agent))

or ``await run_on_bus(agent)``, which also registers the agent and heartbeats (as
``Agent.run`` does), and is what ``orchestration agent`` runs for an agent whose endpoint is
``kafka://``.

Each request names the action and carries its data and idempotency key. The handler runs
the action as the agent's worker would (the data validated into the handler's model, an
``OrchestrationError`` it raises answered as an ERROR reply, non-retryable ones at once).

**Effects once.** A call may be delivered again: the worker retries an attempt that got no
reply in time, and the bus delivers at least once. The handler remembers the outputs of the
last ``remember`` calls by action and idempotency key and answers a repeat from memory
without running the action again; a repeat arriving while the first is still running waits
for it. That covers one process. Across restarts and replicas, key the effect itself by
``ctx.idempotency_key`` (the :class:`activities.ledger.ActionLedger`, in the same database
transaction as the effect), exactly as a Temporal agent does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any

import pydantic

from activities.agent import Agent
from activities.context import ActionContext
from activities.presence import AgentPresence
from bus.message import Message
from bus.message_bus import MessageBus
from bus.server import Handler
from orchestration.core.exceptions import ValidationError
from orchestration.core.lifecycle import wait_for_stop_signal
from orchestration.core.settings import Settings, get_settings
from orchestration.core.validation import Name, kafka_inbox, validation_error
from workflows.models import ActionRequest

__all__ = ["KafkaRequest", "kafka_handler", "run_on_bus"]

log = logging.getLogger(__name__)


class KafkaRequest(ActionRequest):
    """The payload of a request to a Kafka agent (what ``orchestration.kafka_call`` sends):
    what any agent's action receives, and the action's name."""

    action: Name


def kafka_handler(agent: Agent, *, remember: int = 10_000) -> Handler:
    """A ``bus.serve`` handler running ``agent``'s actions, a repeated call answered once.

    Raises (answered as ERROR replies, not retried):
        ValidationError: the payload is not a request, names an action the agent lacks, or
            the action returned something other than a JSON object.
    """
    if remember < 1:
        raise ValidationError.about("remember", "must be at least 1")
    answered: OrderedDict[tuple[str, str], asyncio.Future[dict[str, Any]]] = OrderedDict()

    async def handle(message: Message) -> dict[str, Any]:
        try:
            request = KafkaRequest.model_validate(message.payload)
        except pydantic.ValidationError as exc:
            raise validation_error(f"request to {agent.agent_id}", exc, root="payload") from None
        if request.action not in agent.actions:
            raise ValidationError.about(
                "action",
                f"{request.action!r} is not an action of {agent.agent_id} "
                f"(it has {', '.join(agent.actions)})",
            )
        key = (request.action, request.idempotency_key)
        earlier = answered.get(key)
        if earlier is not None:
            answered.move_to_end(key)
            return await asyncio.shield(earlier)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        answered[key] = future
        try:
            output = await _run(agent, request)
        except BaseException as exc:
            del answered[key]  # a failed call runs again when asked again
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting for it
            raise
        future.set_result(output)
        while len(answered) > remember:
            answered.popitem(last=False)
        return output

    return handle


async def _run(agent: Agent, request: KafkaRequest) -> dict[str, Any]:
    ctx = ActionContext(
        agent_id=agent.agent_id,
        action=request.action,
        idempotency_key=request.idempotency_key,
        caller=request.caller,
        attempt=1,
        context=request.context,
    )
    output = await agent.invoke(request.action, request.data, ctx)
    if not isinstance(output, dict):
        raise ValidationError.about(
            "output",
            f"of {agent.agent_id}.{request.action} must be a JSON object to be a reply's "
            f"payload (got {type(output).__name__})",
        )
    return output


async def run_on_bus(
    agent: Agent,
    settings: Settings | None = None,
    *,
    bus: MessageBus | None = None,
    stop: asyncio.Event | None = None,
    register: bool | None = None,
) -> None:
    """Answer the agent's inbox (its ``kafka://`` endpoint's, else its id's) until SIGINT or
    SIGTERM (or until ``stop`` is set), registered and heartbeating when ``register``
    (default ``ORCH_AGENT_REGISTER``) as ``Agent.run`` is.

    Args:
        bus: an open bus to serve on (default: one on ``settings.kafka``, closed at the end).
    """
    settings = settings or get_settings()
    if register is None:
        register = settings.agent_register
    inbox = kafka_inbox(agent.descriptor.endpoint) or agent.agent_id
    presence = AgentPresence(agent.descriptor, agent.stats, settings) if register else None
    async with contextlib.AsyncExitStack() as stack:
        if bus is None:
            bus = await stack.enter_async_context(MessageBus(settings.kafka))
        server = await bus.serve(inbox, kafka_handler(agent))
        stack.push_async_callback(server.stop)
        if presence is not None:
            await stack.enter_async_context(presence)
        log.info(
            "agent %s answering its bus inbox %s with actions %s",
            agent.agent_id,
            inbox,
            ", ".join(agent.actions),
        )
        if stop is not None:
            await stop.wait()
        else:
            await wait_for_stop_signal()
        log.info("agent %s stopping", agent.agent_id)
