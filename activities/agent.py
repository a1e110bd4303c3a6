"""Agents: declare one, give it actions, run it as a Temporal worker.

An agent is a Temporal worker polling the agent's own task queue (its ``agent_id``, or the
queue named by a ``temporal://<queue>`` endpoint); each action is an activity type on that
queue. Any Temporal worker polling that queue with activities named after the actions is an
agent too, in any language: that is the whole contract.

Example::

    agent = Agent(AgentDescriptor(agent_id="agent-hello", agent_type="HelloAgent",
                                  capabilities=["greeting"]))

    @agent.action("greet")
    async def greet(data: dict, ctx: ActionContext) -> dict:
        return {"greeting": f"Hello, {data['name']}!", "key": ctx.idempotency_key}

    await agent.run()   # until SIGINT/SIGTERM
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import time
import typing
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pydantic
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.context import ActionContext
from activities.presence import ActionStats, AgentPresence
from activities.swarm_batch import swarm_batch_activity
from bus import metrics as bus_metrics
from orchestration.core.exceptions import AgentError, OrchestrationError
from orchestration.core.lifecycle import wait_for_stop_signal
from orchestration.core.metrics import (
    AGENT_FAMILIES,
    sdk_runtime,
    serve_metrics,
)
from orchestration.core.settings import Settings, get_settings
from orchestration.core.temporal_client import connect
from orchestration.core.tracing import span
from orchestration.core.validation import describe
from registry.models import AgentDescriptor
from registry.routing import metrics as routing_metrics
from workflows.models import ActionRequest

__all__ = ["ActionHandler", "Agent"]

log = logging.getLogger(__name__)

DECLARED = (bus_metrics, routing_metrics)
"""The metric modules behind ``AGENT_FAMILIES``, imported so that an agent's ``/metrics``
declares their families before the agent first publishes or scatters (a dashboard's panel
shows "no data yet", not "no such metric")."""

ActionHandler = Callable[[Any, ActionContext], Awaitable[Any]]
H = TypeVar("H", bound=ActionHandler)

INVALID_INPUT = "InvalidActionInput"
"""Error type of a non-retryable failure caused by input the handler's model rejected."""


class Agent:
    """An agent: a descriptor plus named async actions, run as a Temporal worker.

    Flow control is the descriptor's, which the registry publishes: ``max_concurrency`` (else
    ``max_concurrent_actions``) bounds the actions one process runs at once (the worker's
    concurrent-activity limit), and ``rate_limit_per_s`` the actions started per second on
    its task queue, across every process of the agent (Temporal's task-queue rate limit).
    """

    def __init__(self, descriptor: AgentDescriptor, *, max_concurrent_actions: int = 100) -> None:
        if not isinstance(descriptor, AgentDescriptor):
            raise AgentError("Agent() takes an AgentDescriptor")
        if max_concurrent_actions < 1:
            raise AgentError(
                "max_concurrent_actions must be at least 1", agent_id=descriptor.agent_id
            )
        self.descriptor = descriptor
        self.max_concurrent_actions = descriptor.max_concurrency or max_concurrent_actions
        self._activities: dict[str, Callable[..., Any]] = {}
        self._handlers: dict[str, tuple[ActionHandler, type[pydantic.BaseModel] | None]] = {}
        self.stats = ActionStats()
        """Actions finished since the last heartbeat (failures, time): what it reports."""

    @property
    def agent_id(self) -> str:
        return self.descriptor.agent_id

    @property
    def task_queue(self) -> str:
        return self.descriptor.task_queue

    @property
    def actions(self) -> list[str]:
        return sorted(self._activities)

    def action(self, name: str | None = None) -> Callable[[H], H]:
        """Register an async handler ``(data, ctx) -> output`` as the action ``name``.

        If the handler annotates ``data`` with a pydantic model, the data is validated into
        it, and invalid data fails the call at once (no retries) with a message naming the
        fields. A returned pydantic model is sent as JSON.
        """

        def register(handler: H) -> H:
            action_name = name or handler.__name__
            declared: object = handler  # checked untyped, so `handler` keeps its type H
            if not inspect.iscoroutinefunction(declared):
                raise AgentError(
                    f"action {action_name!r}: handlers must be `async def`", agent_id=self.agent_id
                )
            if action_name in self._activities:
                raise AgentError(
                    f"action {action_name!r} is declared twice", agent_id=self.agent_id
                )
            self._handlers[action_name] = (handler, _data_model(handler))
            self._activities[action_name] = self._as_activity(action_name)
            return handler

        return register

    def worker(self, client: Client, **options: Any) -> Worker:
        """A Temporal worker polling this agent's task queue with its actions."""
        if not self._activities:
            raise AgentError(f"agent {self.agent_id!r} declares no actions", agent_id=self.agent_id)
        options.setdefault("identity", f"{self.agent_id}@{socket.gethostname()}:{os.getpid()}")
        options.setdefault("max_concurrent_activities", self.max_concurrent_actions)
        if self.descriptor.rate_limit_per_s is not None:
            options.setdefault(
                "max_task_queue_activities_per_second", self.descriptor.rate_limit_per_s
            )
        options.setdefault("graceful_shutdown_timeout", timedelta(seconds=10))
        return Worker(
            client,
            task_queue=self.task_queue,
            activities=[*self._activities.values(), swarm_batch_activity(self)],
            **options,
        )

    async def run(
        self,
        settings: Settings | None = None,
        *,
        client: Client | None = None,
        stop: asyncio.Event | None = None,
        register: bool | None = None,
    ) -> None:
        """Poll for actions until SIGINT/SIGTERM (or until ``stop`` is set).

        Registers the agent and heartbeats while it runs when ``register`` (default:
        ``ORCH_AGENT_REGISTER``, true) — see :mod:`activities.presence`.

        Serves ``/metrics`` when ``ORCH_AGENT_METRICS_PORT`` is set, and the Temporal SDK's
        metrics when ``ORCH_TEMPORAL_METRICS_PORT`` is (for a client this method connects).
        """
        settings = settings or get_settings()
        if register is None:
            register = settings.agent_register
        if settings.agent_metrics_port is not None:
            serve_metrics(
                settings.agent_metrics_port,
                settings.metrics_host,
                setting="ORCH_AGENT_METRICS_PORT",
                what=f"agent {self.agent_id}",
                families=AGENT_FAMILIES,
            )
        client = client or await connect(settings, runtime=sdk_runtime(settings))
        presence = AgentPresence(self.descriptor, self.stats, settings) if register else None
        async with self.worker(client), presence or contextlib.nullcontext():
            log.info(
                "agent %s polling task queue %r with actions %s",
                self.agent_id,
                self.task_queue,
                ", ".join(self.actions),
            )
            if stop is not None:
                await stop.wait()
            else:
                await wait_for_stop_signal()
            log.info("agent %s stopping", self.agent_id)

    async def invoke(self, action_name: str, data: Any, ctx: ActionContext) -> Any:
        """Run the action's handler on ``data`` as an activity of this agent would.

        Raises:
            ApplicationError: the data does not fit the handler's model (non-retryable,
                naming the fields), or the handler raised an ``OrchestrationError``.
            KeyError: the agent has no such action.
        """
        handler, model = self._handlers[action_name]
        if model is not None:
            try:
                data = model.model_validate(data)
            except pydantic.ValidationError as exc:
                raise ApplicationError(
                    f"{self.agent_id}.{action_name}: invalid input: {_describe(exc)}",
                    type=INVALID_INPUT,
                    non_retryable=True,
                ) from None
        started = time.monotonic()
        # An error the agent raised on purpose and that retrying cannot change (a rejected
        # record, a business rule) is the agent doing its job, not a failure of the agent:
        # only other errors count towards the error_rate its heartbeats report.
        failed = True
        try:
            with span(f"{action_name} on {self.agent_id}", lambda: self._span_attributes(ctx)):
                output = await handler(data, ctx)
            failed = False
        except OrchestrationError as exc:
            failed = exc.retriable
            raise ApplicationError(
                str(exc), type=type(exc).__name__, non_retryable=not exc.retriable
            ) from exc
        except ApplicationError as exc:
            failed = not exc.non_retryable
            raise
        finally:
            self.stats.record((time.monotonic() - started) * 1000, failed=failed)
        if isinstance(output, pydantic.BaseModel):
            return output.model_dump(mode="json")
        return output

    def _span_attributes(self, ctx: ActionContext) -> dict[str, Any]:
        """What an operator asks of an action's span: which saga, step, agent, attempt."""
        context = ctx.context
        return {
            "orchestration.agent.id": ctx.agent_id,
            "orchestration.agent.type": self.descriptor.agent_type,
            "orchestration.agent.version": self.descriptor.version,
            "orchestration.action": ctx.action,
            "orchestration.attempt": ctx.attempt,
            "orchestration.idempotency_key": ctx.idempotency_key,
            "orchestration.caller": ctx.caller,
            "orchestration.saga.name": context.get("saga"),
            "orchestration.step": context.get("step") or context.get("stage"),
            "orchestration.compensation": ctx.idempotency_key.endswith("/compensate"),
        }

    def _as_activity(self, action_name: str) -> Callable[..., Any]:
        agent_id = self.agent_id

        async def run_action(request: ActionRequest) -> Any:
            ctx = ActionContext(
                agent_id=agent_id,
                action=action_name,
                idempotency_key=request.idempotency_key,
                caller=request.caller,
                attempt=activity.info().attempt,
                context=request.context,
            )
            return await self.invoke(action_name, request.data, ctx)

        run_action.__name__ = run_action.__qualname__ = f"{agent_id}.{action_name}"
        return activity.defn(name=action_name)(run_action)


def _data_model(handler: ActionHandler) -> type[pydantic.BaseModel] | None:
    """The pydantic model the handler's first parameter is annotated with, if any."""
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # unresolvable annotations: treat data as plain JSON
        return None
    params = list(inspect.signature(handler).parameters)
    hint = hints.get(params[0]) if params else None
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        return hint
    return None


def _describe(exc: pydantic.ValidationError) -> str:
    return describe(exc, "data")
