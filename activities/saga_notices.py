"""``orchestration.saga_notice``: the activity that tells people a saga needs them.

A saga started with events (``SagaOrchestrator(bus)``) calls it, on the orchestration
worker, when an approval step starts waiting (``saga.approval_requested``) and when it
parks for an operator (``saga.intervention_needed``). It publishes one EVENT message to
``saga.events`` with the step, the reason and the saga's Web UI link, through a bus opened
for the call: notices are rare, and a worker without Kafka loses nothing but the notice
(the saga records the failure in its ``errors`` and goes on).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from bus.message import Message, MessageType
from bus.message_bus import MessageBus
from orchestration.core.settings import Settings
from workflows.saga_models import SAGA_EVENTS_TOPIC, SAGA_NOTICE_ACTIVITY, SagaNotice

__all__ = ["saga_notice_activity"]


def saga_notice_activity(settings: Settings) -> Callable[[SagaNotice], Awaitable[None]]:
    """The activity, publishing with ``settings.kafka`` and linking ``settings.temporal``'s
    Web UI."""

    @activity.defn(name=SAGA_NOTICE_ACTIVITY)
    async def publish_saga_notice(notice: SagaNotice) -> None:
        payload = {
            **notice.model_dump(mode="json"),
            "web_ui": settings.temporal.web_ui(notice.transaction_id),
        }
        message = Message(
            sender_id="saga-orchestrator",
            message_type=MessageType.EVENT,
            payload=payload,
            correlation_id=notice.transaction_id,
        )
        async with MessageBus(settings.kafka) as bus:
            await bus.publish(message, SAGA_EVENTS_TOPIC)

    return publish_saga_notice
