"""Dispatching one action to one agent: the executor sagas, pipelines and tasks share.

Workflow code only: it schedules an activity named after the action on the agent's task
queue, with the timeout, retry policy, idempotency key and Web UI summary in one place. An
agent that answers on the bus instead (a ``kafka://<inbox>`` endpoint) is called through the
orchestration worker's ``orchestration.kafka_call`` activity, with the same policy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

from orchestration.core.retry import RetrySpec
from orchestration.core.validation import kafka_inbox, task_queue_for
from workflows.models import KAFKA_CALL_ACTIVITY, ActionRequest, KafkaCall

__all__ = [
    "KAFKA_HEARTBEAT_MS",
    "KAFKA_MARGIN_MS",
    "call_priority",
    "cause_message",
    "describe_failure",
    "dispatch_action",
    "failed_for_good",
    "unpolled",
    "unpolled_message",
]

KAFKA_HEARTBEAT_MS = 10_000
"""Heartbeat timeout of a call to a Kafka agent (the orchestration worker heartbeats while it
waits for the reply): a worker that died is noticed this soon, not at the call's timeout."""
KAFKA_MARGIN_MS = 10_000
"""How much longer than its reply timeout one attempt of a Kafka call may take (sending the
request, opening the worker's bus)."""


async def dispatch_action(
    *,
    agent_id: str,
    action: str,
    request: ActionRequest,
    timeout_ms: int,
    retry: RetrySpec,
    endpoint: str | None = None,
    summary: str | None = None,
    heartbeat_timeout_ms: int | None = None,
    cancellable: bool = True,
    settle_on_cancel: bool = False,
    schedule_to_start_timeout_ms: int | None = None,
    priority: Priority | None = None,
) -> Any:
    """Run ``action`` on the agent and return its output (JSON-decoded).

    Args:
        agent_id: the agent; its task queue is ``task_queue_for(agent_id, endpoint)``.
        action: the activity type the agent registered for this action.
        request: data, idempotency key and context for the action.
        timeout_ms: start-to-close timeout of one attempt.
        retry: retry policy across attempts.
        endpoint: the agent's endpoint, when it names a different queue.
        summary: what the Web UI shows for this activity.
        heartbeat_timeout_ms: fail an attempt whose agent stops heartbeating for this long.
        cancellable: False for work that must finish even if the workflow is cancelled
            (compensations): the activity is then shielded from cancellation.
        settle_on_cancel: when cancelled, wait until the agent's attempt has settled and
            return its outcome (a result if it completed anyway) instead of giving up on it
            at once: what a saga needs to know whether a step's effect must be undone.
        schedule_to_start_timeout_ms: fail when no worker of the agent picks the call up
            within this long (the agent is gone) instead of waiting for one. A Kafka agent's
            absence shows as no reply within ``timeout_ms`` instead.
        priority: Temporal task priority (1 most urgent .. 5) and fairness key of the call.
    """
    activity_type: str = action
    argument: ActionRequest | KafkaCall = request
    task_queue = task_queue_for(agent_id, endpoint)
    start_to_close_ms = timeout_ms
    inbox = kafka_inbox(endpoint)
    if inbox is not None:
        # Answered on the bus: the orchestration worker sends the request and waits for the
        # reply, heartbeating; no worker of the agent's picks anything up.
        activity_type = KAFKA_CALL_ACTIVITY
        argument = KafkaCall(
            agent_id=agent_id, inbox=inbox, action=action, request=request, timeout_ms=timeout_ms
        )
        task_queue = workflow.info().task_queue
        start_to_close_ms = timeout_ms + KAFKA_MARGIN_MS
        heartbeat_timeout_ms = heartbeat_timeout_ms or KAFKA_HEARTBEAT_MS
        schedule_to_start_timeout_ms = None
    return await workflow.execute_activity(
        activity_type,
        argument,
        task_queue=task_queue,
        start_to_close_timeout=timedelta(milliseconds=start_to_close_ms),
        heartbeat_timeout=(
            timedelta(milliseconds=heartbeat_timeout_ms) if heartbeat_timeout_ms else None
        ),
        schedule_to_start_timeout=(
            timedelta(milliseconds=schedule_to_start_timeout_ms)
            if schedule_to_start_timeout_ms
            else None
        ),
        retry_policy=retry.to_temporal(),
        summary=summary or f"{agent_id}.{action}",
        cancellation_type=_cancellation_type(cancellable, settle_on_cancel),
        priority=priority or Priority.default,
    )


def call_priority(priority: int | None, fairness_key: str | None = None) -> Priority | None:
    """The Temporal ``Priority`` of calls made for a run of this priority (1 most urgent .. 5;
    None: the server's default, 3) and fairness key; None when neither is set."""
    if priority is None and fairness_key is None:
        return None
    return Priority(priority_key=priority, fairness_key=fairness_key)


def _cancellation_type(cancellable: bool, settle: bool) -> workflow.ActivityCancellationType:
    if not cancellable:
        return workflow.ActivityCancellationType.ABANDON
    if settle:
        return workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    return workflow.ActivityCancellationType.TRY_CANCEL


def describe_failure(
    error: BaseException, *, agent_id: str | None = None, endpoint: str | None = None
) -> str:
    """One line for a failed call, as statuses and the Web UI show it: the cause's type and
    message (``AgentError: ... (non-retryable)``), the error's own text when it is not an
    activity failure, and for a call nobody picked up, with the agent given, ``no worker polls
    task queue <queue> (agent <agent>)``."""
    cause = error.cause if isinstance(error, ActivityError) else None
    if agent_id is not None and unpolled(error):
        return unpolled_message(agent_id, endpoint)
    if isinstance(cause, ApplicationError):
        suffix = " (non-retryable)" if cause.non_retryable else ""
        return f"{cause.type or 'ApplicationError'}: {cause.message}{suffix}"
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return str(error)


def cause_message(error: BaseException) -> str:
    """The message of ``error``'s cause when that is an application error (what an activity,
    a workflow or an update failed with), else the cause's text, or the error's own."""
    cause = getattr(error, "cause", None)
    return cause.message if isinstance(cause, ApplicationError) else str(cause or error)


def unpolled(error: BaseException) -> bool:
    """True when the call failed because no worker of its agent picked it up in time (its
    schedule-to-start timeout passed): the agent is not running, or its id is wrong."""
    cause = error.cause if isinstance(error, ActivityError) else None
    return isinstance(cause, ActivityTimeoutError) and cause.type is TimeoutType.SCHEDULE_TO_START


def unpolled_message(agent_id: str, endpoint: str | None = None) -> str:
    """``no worker polls task queue <queue> (agent <agent>)``, for a call nobody picked up."""
    queue = task_queue_for(agent_id, endpoint)
    return (
        f"no worker polls task queue {queue} (agent {agent_id}): the call was not picked up "
        "in time; is the agent running, and is its id right?"
    )


def failed_for_good(error: ActivityError, retry: RetrySpec) -> bool:
    """True when the call failed with a non-retryable error (its own flag, or a type the
    retry policy names): dispatching it again cannot help."""
    cause = error.cause
    return isinstance(cause, ApplicationError) and (
        cause.non_retryable or cause.type in retry.non_retryable_error_types
    )
