"""The orchestration worker: runs our workflows on ``ORCH_TASK_QUEUE`` and serves /metrics."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from types import ModuleType
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from activities.dataset_plan import plan_dataset_activity
from activities.kafka_calls import KafkaCalls
from activities.routing import CapabilityRouter
from activities.saga_notices import saga_notice_activity
from activities.swarm_manifest import write_manifest_activity
from activities.transforms import run_transform
from orchestration.core.exceptions import ConfigurationError
from orchestration.core.lifecycle import cancel_and_wait, wait_for_stop_signal
from orchestration.core.metrics import (
    WORKER_FAMILIES,
    sdk_runtime,
    serve_metrics,
)
from orchestration.core.settings import Settings
from orchestration.core.temporal_client import connect, ensure_search_attributes
from registry.backend import RegistryBackend
from workers.pending_actions import watch_pending_actions
from workflows.agent_task import AgentTaskWorkflow
from workflows.pipeline import PipelineWorkflow
from workflows.saga import SagaWorkflow
from workflows.swarm import SwarmWorkflow

__all__ = ["ACTIVITIES", "WORKFLOWS", "OrchestrationWorker", "build_worker", "run_worker"]

log = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (AgentTaskWorkflow, SagaWorkflow, SwarmWorkflow, PipelineWorkflow)
"""Every workflow type the orchestration worker runs."""
ACTIVITIES: Sequence[Callable[..., Any]] = (
    run_transform,
    plan_dataset_activity(),
    write_manifest_activity(),
)
"""The activities the orchestration worker runs itself (agents run their own), besides the
saga notices, which publish with the worker's settings."""


class OrchestrationWorker(Worker):
    """A Temporal worker that closes the connections its activities opened (the bus of the
    calls to Kafka agents, the registry service's client) once it has shut down."""

    def __init__(
        self,
        client: Client,
        *,
        closers: Sequence[Callable[[], Awaitable[None]]],
        **options: Any,
    ) -> None:
        super().__init__(client, **options)
        self._closers = closers

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            for close in self._closers:
                await close()


def build_worker(
    client: Client,
    settings: Settings,
    *,
    registry: RegistryBackend | None = None,
) -> OrchestrationWorker:
    """The worker for ``settings.task_queue`` with every workflow and activity.

    Also runs the workflows that modules of ``ORCH_WORKER_MODULES`` list in ``WORKFLOWS``
    (e.g. the entity workflows a bridge route starts). Calls routed by capability ask
    ``registry`` when given, else the registry service of ``settings.registry``; calls to
    Kafka agents go through a bus on ``settings.kafka`` opened on the first such call.
    """
    router = CapabilityRouter(settings, registry)
    kafka_calls = KafkaCalls(settings)
    return OrchestrationWorker(
        client,
        closers=[kafka_calls.close, router.close],
        task_queue=settings.task_queue,
        workflows=[*WORKFLOWS, *user_workflows(settings)],
        activities=[
            *ACTIVITIES,
            saga_notice_activity(settings),
            router.activity(),
            kafka_calls.activity(),
        ],
        identity=f"orchestration-worker@{socket.gethostname()}:{os.getpid()}",
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def import_worker_modules(settings: Settings) -> list[ModuleType]:
    """Import ``ORCH_WORKER_MODULES``: where users register pipeline transforms and list
    extra workflows. Like ``orchestration agent``, modules of the current directory count.

    Raises:
        ConfigurationError: a module cannot be imported.
    """
    if settings.worker_modules and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    modules = []
    for name in settings.worker_modules:
        try:
            modules.append(importlib.import_module(name))
        except Exception as exc:
            raise ConfigurationError(
                f"cannot import worker module {name!r}: {type(exc).__name__}: {exc}",
                setting="ORCH_WORKER_MODULES",
            ) from None
        log.debug("imported worker module %s", name)
    return modules


def user_workflows(settings: Settings) -> list[type]:
    """The workflow classes listed in ``WORKFLOWS`` by the worker modules.

    Raises:
        ConfigurationError: a module cannot be imported, or its ``WORKFLOWS`` holds something
            that is not a workflow class.
    """
    found: list[type] = []
    for module in import_worker_modules(settings):
        for candidate in getattr(module, "WORKFLOWS", ()):
            defined = isinstance(candidate, type) and workflow._Definition.from_class(candidate)
            if not defined:
                raise ConfigurationError(
                    f"{module.__name__}.WORKFLOWS holds {candidate!r}, not a @workflow.defn class",
                    setting="ORCH_WORKER_MODULES",
                )
            if candidate not in found and candidate not in WORKFLOWS:
                found.append(candidate)
    return found


def cache_bytecode(settings: Settings) -> None:
    """Keep compiled bytecode even where ``PYTHONDONTWRITEBYTECODE`` is set.

    The workflow sandbox re-imports each workflow's module for every run; without ``.pyc``
    files (an editable install in such an environment) that means compiling the source every
    time, measured at about a fifth of the worker's CPU per saga. The cache goes under the
    state directory, never next to the sources.
    """
    if sys.dont_write_bytecode:
        prefix = (settings.state_dir / "pycache").resolve()
        sys.dont_write_bytecode = False
        sys.pycache_prefix = str(prefix)
        log.debug("caching bytecode in %s (PYTHONDONTWRITEBYTECODE is set)", prefix)


async def run_worker(settings: Settings) -> None:
    """Connect, serve /metrics, and run the worker until SIGINT/SIGTERM."""
    cache_bytecode(settings)
    import_worker_modules(settings)
    client = await connect(settings, runtime=sdk_runtime(settings))
    try:
        added = await ensure_search_attributes(client, settings.temporal.namespace)
        if added:
            log.info("registered search attributes %s", ", ".join(added))
    except Exception as exc:  # a production cluster may not let workers do this
        log.warning(
            "could not register search attributes (%s); register them with "
            "`temporal operator search-attribute create`",
            exc,
        )
    metrics = serve_metrics(
        settings.metrics_port,
        settings.metrics_host,
        setting="ORCH_METRICS_PORT",
        what="worker",
        families=WORKER_FAMILIES,
    )
    pending = asyncio.create_task(
        watch_pending_actions(client, settings.task_queue, settings.pending_actions_interval_s)
    )
    try:
        async with build_worker(client, settings):
            log.info(
                "orchestration worker on task queue %r (Temporal %s, namespace %s); metrics on %s",
                settings.task_queue,
                settings.temporal.address,
                settings.temporal.namespace,
                metrics,
            )
            await wait_for_stop_signal()
            log.info("orchestration worker stopping")
    finally:
        await cancel_and_wait(pending)
