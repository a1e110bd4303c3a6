"""Models that workflows take and return, and that activities receive.

Every workflow takes one model argument, so the temporal CLI can start it from JSON.
Durations are integers in milliseconds, as in the quick reference.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from orchestration.core.retry import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, RetrySpec
from orchestration.core.settings import RouteConfig
from orchestration.core.validation import AgentId, CallEndpoint, Name
from workflows.routing_models import Routable

__all__ = ["KAFKA_CALL_ACTIVITY", "ActionRequest", "AgentTaskInput", "AgentTaskResult", "KafkaCall"]

KAFKA_CALL_ACTIVITY = "orchestration.kafka_call"
"""Activity type of a call to an agent that answers on the bus (a ``kafka://`` endpoint),
run by the orchestration worker itself."""


class ActionRequest(BaseModel):
    """What an agent's action receives: the data, and the key that makes it idempotent."""

    data: Any = None
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    caller: str | None = Field(default=None, description="The workflow id that asked.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="Extra inputs, e.g. the outputs of earlier steps."
    )


class KafkaCall(BaseModel):
    """One call of ``KAFKA_CALL_ACTIVITY``: ``action`` with ``request``, sent to the bus inbox
    of ``inbox`` as the JSON every agent gets (``{"action", "data", "idempotency_key",
    "caller", "context"}``), its reply awaited for ``timeout_ms``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: AgentId
    inbox: AgentId
    action: Name
    request: ActionRequest
    timeout_ms: int = Field(ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)


class AgentTaskInput(Routable):
    """Input of ``AgentTaskWorkflow``: one action on one agent, durably; the agent named by
    ``agent_id``, or found by ``capability`` (see :class:`workflows.routing_models.Routable`).
    """

    model_config = ConfigDict(extra="forbid")

    agent_id: AgentId | None = Field(default=None, validate_default=True)
    action: Name
    data: Any = None
    endpoint: CallEndpoint | None = Field(
        default=None, description="temporal://<queue> or kafka://<inbox> to override"
    )
    timeout_ms: int = Field(default=60_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    start_timeout_ms: int = Field(
        default=180_000,
        ge=MIN_TIMEOUT_MS,
        le=MAX_TIMEOUT_MS,
        description="Fail when no worker of the agent picks the call up within this long.",
    )
    retry: RetrySpec = Field(default_factory=RetrySpec)
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    routing: RouteConfig = Field(default_factory=RouteConfig)
    """How a task by capability is routed (its ``start_timeout_ms`` replaces the task's)."""


class AgentTaskResult(BaseModel):
    """Result of ``AgentTaskWorkflow``."""

    agent_id: str
    action: str
    output: Any = None
    idempotency_key: str
