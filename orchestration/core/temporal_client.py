"""One way to connect to Temporal: our data converter and a bounded wait.

:data:`DATA_CONVERTER` is temporalio's pydantic JSON converter with
:class:`PlainFailureConverter`: a failure raised on purpose goes without its Python stack
trace. Workers convert the failures they report with their client's converter, so a worker
connected through :func:`connect` (or the pytest plugin's fixtures) reports them plainly.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueKind, TaskQueueType
from temporalio.api.failure.v1 import Failure
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadConverter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from orchestration.core.exceptions import StackError
from orchestration.core.routing import ROUTING_ERROR
from orchestration.core.search_attributes import REGISTERED
from orchestration.core.settings import Settings, get_settings
from orchestration.core.tracing import temporal_interceptors

__all__ = [
    "DATA_CONVERTER",
    "PlainFailureConverter",
    "connect",
    "ensure_search_attributes",
    "unpolled_queues",
]


class PlainFailureConverter(DefaultFailureConverter):
    """Failures as Temporal records them, without a stack trace for the ones raised on purpose.

    A non-retryable ``ApplicationError`` (a compensated saga, an invalid workflow input, an
    agent's business rejection) says what happened in its message and type; its stack trace
    is the SDK's own frames, which the Web UI would show first. So does a ``RoutingError``,
    retried while no agent qualifies: its message is the whole story. Every other failure
    keeps its trace: a bug or an outage someone has to read.
    """

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        if isinstance(exception, ApplicationError) and (
            exception.non_retryable or exception.type == ROUTING_ERROR
        ):
            failure.stack_trace = ""


DATA_CONVERTER: DataConverter = dataclasses.replace(
    pydantic_data_converter, failure_converter_class=PlainFailureConverter
)
"""The data converter of every client and worker of ours (pydantic JSON payloads)."""


PRIORITY_SERVER_ARGS: tuple[str, ...] = (
    "--dynamic-config-value", "matching.useNewMatcher=true",
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
)  # fmt: skip
"""``temporal server start-dev`` options under which task priority orders the calls waiting
on a task queue (the server's new matcher; one partition per queue, as priority holds per
partition). A Temporal cluster needs the same dynamic config for saga and swarm priorities
to take effect; without it calls are still made, in arrival order."""


async def connect(
    settings: Settings | None = None,
    *,
    timeout_s: float = 10.0,
    runtime: Runtime | None = None,
) -> Client:
    """Connect to the Temporal frontend named by ``ORCH_TEMPORAL_ADDRESS``.

    When the ``OTEL_*`` settings turn tracing on (:mod:`orchestration.core.tracing`), the
    client, and every worker built on it, carries traces through Temporal headers.

    Raises:
        StackError: Temporal did not answer within ``timeout_s``; the message names the
            address and the setting to change.
    """
    settings = settings or get_settings()
    address = settings.temporal.address
    try:
        return await asyncio.wait_for(
            Client.connect(
                address,
                namespace=settings.temporal.namespace,
                data_converter=DATA_CONVERTER,
                interceptors=temporal_interceptors(),
                runtime=runtime,
            ),
            timeout=timeout_s,
        )
    except (TimeoutError, RuntimeError, OSError) as exc:
        raise StackError(
            f"cannot reach Temporal at {address} (ORCH_TEMPORAL_ADDRESS): "
            f"{_why_unreachable(exc, timeout_s)}; is `orchestration up` running?",
            retriable=True,
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc


def _why_unreachable(error: BaseException, timeout_s: float) -> str:
    """The connect error in a few words (the SDK's Rust core says it in a nested repr)."""
    text = str(error)
    if isinstance(error, TimeoutError) or not text:
        return f"no answer within {timeout_s:g} s"
    if "Connection refused" in text:
        return "connection refused (nothing listens on that port)"
    if "dns error" in text or "failed to lookup address" in text:
        return "the host name does not resolve"
    if "Unimplemented" in text or "HTTP status code" in text:
        return "something answered there, but it is not a Temporal frontend"
    if "timed out" in text.lower():
        return "the connection timed out"
    return text.splitlines()[0][:200]


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register our search attributes on the namespace if they are missing; idempotent.

    Works on the dev server and the time-skipping test server. A production cluster may
    refuse (permissions): the error propagates, and the caller decides whether that matters.

    Returns:
        The names that were added.
    """
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as exc:
        # The time-skipping test server cannot list, but it can add.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {name: kind for name, kind in REGISTERED.items() if name not in known}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={
                        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
                        for name, kind in missing.items()
                    },
                )
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
            return []
    return sorted(missing)


async def unpolled_queues(client: Client, queues: Iterable[str]) -> list[str]:
    """The task queues among ``queues`` that no worker polls for activities.

    Temporal lists a worker as a poller of a queue until a few minutes after its last poll,
    so an agent stopped a moment ago still counts as polling. Empty when the server cannot
    describe task queues (the time-skipping test server cannot).
    """

    async def polled(queue: str) -> bool:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        return bool(response.pollers)

    wanted = list(dict.fromkeys(queues))
    try:
        answers = await asyncio.gather(*(polled(queue) for queue in wanted))
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNIMPLEMENTED:
            return []
        raise
    return [queue for queue, yes in zip(wanted, answers, strict=True) if not yes]
