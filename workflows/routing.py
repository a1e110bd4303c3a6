"""A call routed by capability, in workflow code: route, dispatch, and route again on failure.

``call_routed`` asks the orchestration worker's ``orchestration.route`` activity for an agent
(its answer is in the history: replay never routes again), dispatches the action to it with
a bound on how long the agent may take to pick the call up (``RouteConfig.start_timeout_ms``)
and ``RouteConfig.attempts`` attempts, and when the agent does not start it or keeps failing
it retryably, routes again without that agent, with the same request (the same idempotency
key). A non-retryable failure is the call's own: it is raised as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from orchestration.core.retry import RetrySpec
    from orchestration.core.settings import RouteConfig
    from workflows.dispatch import dispatch_action, failed_for_good
    from workflows.models import ActionRequest
    from workflows.routing_models import ROUTE_ACTIVITY, Route, RouteChoice, RouteQuery

__all__ = ["ROUTE_LOCALLY", "call_routed", "choose_agent"]

ROUTE_LOCALLY = "route-as-local-activity"
"""Patch id: the routing decision is first tried once as a local activity of the
orchestration worker (a marker in the history, no task of its own on the server: with the
decision as an activity a routed saga ran at 0.64x of one with fixed agents); only when no
agent qualifies does the workflow wait as before, with the activity. Runs started before
keep the activity."""

_ROUTE_ATTEMPT = timedelta(seconds=30)
_ROUTE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["ValidationError"],
)
_ROUTE_ONCE = RetryPolicy(maximum_attempts=1)


async def choose_agent(
    route: Route,
    config: RouteConfig,
    *,
    purpose: str,
    exclude: list[str] | None = None,
    failed: str | None = None,
    priority: Priority | None = None,
) -> RouteChoice:
    """The agent for one call: the ``orchestration.route`` activity, first once locally by
    the worker running this workflow, then, when no agent qualified, on this workflow's task
    queue, retried until one qualifies or ``config.wait_ms`` has passed.

    Raises:
        ActivityError: no agent qualified in time (its cause: a ``RoutingError``).
    """
    query = RouteQuery(
        route=route,
        min_health=config.min_health,
        exclude=exclude or [],
        failed=failed,
        purpose=purpose,
    )
    if workflow.patched(ROUTE_LOCALLY):
        try:
            local: RouteChoice = await workflow.execute_local_activity(
                ROUTE_ACTIVITY,
                query,
                result_type=RouteChoice,
                start_to_close_timeout=_ROUTE_ATTEMPT,
                retry_policy=_ROUTE_ONCE,
                summary=f"route {route.describe()}",
            )
            return local
        except (ActivityError, ApplicationError):
            # No agent qualifies now, or the registry did not answer (a local activity's
            # failure may arrive as its ApplicationError itself): decide with the activity,
            # whose retries and last error the Web UI and `describe` show, and whose failure
            # callers handle as any call's.
            pass
    choice: RouteChoice = await workflow.execute_activity(
        ROUTE_ACTIVITY,
        query,
        result_type=RouteChoice,
        task_queue=workflow.info().task_queue,
        start_to_close_timeout=_ROUTE_ATTEMPT,
        schedule_to_close_timeout=timedelta(milliseconds=config.wait_ms),
        retry_policy=_ROUTE_RETRY,
        summary=f"route {route.describe()}",
        priority=priority or Priority.default,
    )
    return choice


async def call_routed(
    route: Route,
    config: RouteConfig,
    *,
    action: str,
    request: ActionRequest,
    timeout_ms: int,
    retry: RetrySpec,
    purpose: str,
    label: str = "",
    on_choice: Callable[[RouteChoice], None] | None = None,
    settle_on_cancel: bool = False,
    priority: Priority | None = None,
) -> tuple[RouteChoice, Any]:
    """Run ``action`` on an agent ``route`` finds; return the agent chosen and the output.

    Args:
        route: how the agent is found.
        config: the routing bounds (``ORCH_ROUTE_*``, as the caller started the workflow).
        action, request, timeout_ms: as :func:`workflows.dispatch.dispatch_action` takes them.
        retry: the call's retry policy; each chosen agent gets at most ``config.attempts``
            of its attempts (``maximum_attempts=0``, forever, still reroutes).
        purpose: ``saga <id> step <name>``, for the routing decision's log.
        label: what the Web UI summary of the call starts with (``step x``), before
            ``<agent>.<action>``.
        on_choice: told each agent chosen, before the call goes to it.
        settle_on_cancel, priority: see ``dispatch_action`` (the routing decision gets the
            same priority).

    Raises:
        ActivityError: the call failed for good on its agent, or no agent was left.
    """
    attempts = config.attempts
    if retry.maximum_attempts:
        attempts = min(attempts, retry.maximum_attempts)
    per_agent = retry.model_copy(update={"maximum_attempts": attempts})
    exclude: list[str] = []
    failed: str | None = None
    while True:
        choice = await choose_agent(
            route, config, purpose=purpose, exclude=exclude, failed=failed, priority=priority
        )
        if on_choice is not None:
            on_choice(choice)
        try:
            output = await dispatch_action(
                agent_id=choice.agent_id,
                endpoint=choice.endpoint,
                action=action,
                request=request,
                timeout_ms=timeout_ms,
                retry=per_agent,
                summary=f"{label}{': ' if label else ''}{choice.agent_id}.{action}",
                settle_on_cancel=settle_on_cancel,
                schedule_to_start_timeout_ms=config.start_timeout_ms,
                priority=priority,
            )
        except ActivityError as exc:
            if failed_for_good(exc, retry) or isinstance(exc.cause, CancelledError):
                raise  # the call's own failure, or the workflow stopping: not the agent's
            workflow.logger.info(
                "%s: %s did not do %s; routing it again without it",
                purpose,
                choice.agent_id,
                action,
            )
            exclude.append(choice.agent_id)
            failed = choice.agent_id
            continue
        return choice, output
