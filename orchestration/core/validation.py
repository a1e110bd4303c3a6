"""Checking input: the id and name types every definition uses, and one way to turn a
pydantic ``ValidationError`` into ours, every problem naming its field."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated

import pydantic
from pydantic import AfterValidator, StringConstraints

from orchestration.core.exceptions import ValidationError

__all__ = [
    "AGENT_ID_PATTERN",
    "KAFKA_SCHEME",
    "TEMPORAL_SCHEME",
    "AgentId",
    "CallEndpoint",
    "Name",
    "check_agent_queues",
    "check_call_endpoint",
    "describe",
    "field_problems",
    "kafka_inbox",
    "polls_task_queue",
    "task_queue_for",
    "validation_error",
]

AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,199}$"
AgentId = Annotated[str, StringConstraints(pattern=AGENT_ID_PATTERN)]
"""1-200 characters: letters, digits and ``. _ : -``, starting with a letter or digit."""
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")]
"""A capability, action or tag name: 1-128 characters of letters, digits and ``. _ -``."""

TEMPORAL_SCHEME = "temporal://"
"""An agent endpoint ``temporal://<queue>`` names the task queue the agent polls."""
KAFKA_SCHEME = "kafka://"
"""An agent endpoint ``kafka://<agent_id>``: the agent answers requests on the bus, in the
inbox of that id (``bus.serve``), instead of polling a task queue."""


def kafka_inbox(endpoint: str | None) -> str | None:
    """The agent id whose bus inbox a ``kafka://<agent_id>`` endpoint names; None for any
    other endpoint."""
    if endpoint and endpoint.startswith(KAFKA_SCHEME):
        return endpoint[len(KAFKA_SCHEME) :].strip("/") or None
    return None


def check_call_endpoint(endpoint: str) -> str:
    """``endpoint`` when it is a :data:`CallEndpoint`; else ValueError saying why."""
    if endpoint.startswith(TEMPORAL_SCHEME):
        queue = endpoint[len(TEMPORAL_SCHEME) :].strip("/")
        if not queue or len(queue) > 200:
            raise ValueError("temporal:// must be followed by a task queue name")
        return endpoint
    if endpoint.startswith(KAFKA_SCHEME):
        inbox = kafka_inbox(endpoint)
        if inbox is None or not re.match(AGENT_ID_PATTERN, inbox):
            raise ValueError("kafka:// must be followed by the agent id whose inbox it reads")
        return endpoint
    raise ValueError("must be temporal://<task queue> or kafka://<agent id>")


CallEndpoint = Annotated[
    str, StringConstraints(max_length=512), AfterValidator(check_call_endpoint)
]
"""Where a call to a named agent goes: ``temporal://<task queue>`` (an agent polling another
queue than its id) or ``kafka://<agent id>`` (an agent answering in its bus inbox)."""


def polls_task_queue(endpoint: str | None) -> bool:
    """True unless the endpoint names a bus inbox: the agent is a Temporal worker."""
    return kafka_inbox(endpoint) is None


def task_queue_for(agent_id: str, endpoint: str | None = None) -> str:
    """The Temporal task queue an agent polls.

    It is the agent's id unless its endpoint names another queue (``temporal://<queue>``).
    Any Temporal worker polling that queue with activities named after the agent's actions
    *is* that agent: this is the whole contract.
    """
    if endpoint and endpoint.startswith(TEMPORAL_SCHEME):
        queue = endpoint[len(TEMPORAL_SCHEME) :].strip("/")
        if queue:
            return queue
    return agent_id


def field_problems(exc: pydantic.ValidationError, root: str = "value") -> list[dict[str, str]]:
    """``[{"field": "steps.0.name", "problem": "..."}]`` for every error (``root`` when the
    error is about the whole value)."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or root, "problem": e["msg"]}
        for e in exc.errors()
    ]


def describe(exc: pydantic.ValidationError, root: str = "value") -> str:
    """``field: problem; field: problem`` for every error."""
    return "; ".join(f"{p['field']}: {p['problem']}" for p in field_problems(exc, root))


def validation_error(
    what: str, exc: pydantic.ValidationError, root: str = "value"
) -> ValidationError:
    """``invalid <what>: field: problem; ...`` with the problems in ``errors``."""
    return ValidationError(
        f"invalid {what}: {describe(exc, root)}", errors=field_problems(exc, root)
    )


def check_agent_queues(agents: Iterable[tuple[str, str, str | None]], task_queue: str) -> None:
    """Refuse an agent whose task queue is the orchestration worker's own.

    The orchestration worker polls ``task_queue`` for activities too, so a call meant for such
    an agent would reach a worker without its actions and fail as "not registered".

    Args:
        agents: ``(field, agent_id, endpoint)`` for every agent a definition calls.
        task_queue: ``ORCH_TASK_QUEUE``.

    Raises:
        ValidationError: naming every such field.
    """
    problem = (
        f"the agent's task queue is {task_queue!r}, the orchestration worker's own "
        "(ORCH_TASK_QUEUE): give the agent another id or endpoint"
    )
    errors = [
        {"field": field, "problem": problem}
        for field, agent_id, endpoint in agents
        if polls_task_queue(endpoint) and task_queue_for(agent_id, endpoint) == task_queue
    ]
    if errors:
        fields = ", ".join(e["field"] for e in errors)
        raise ValidationError(f"{fields}: {problem}", errors=errors)
