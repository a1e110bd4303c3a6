"""``EmbeddedStack``: Temporal, a Kafka broker, the database schema and the worker, in order.

Parts whose settings point at an outside service are not started, only awaited (an external
Temporal must still answer). Every port is checked before anything starts, so a taken port
fails at once and leaves nothing running. Stopping goes in reverse: worker, Temporal, Kafka.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from orchestration.core.exceptions import OrchestrationError, StackError
from orchestration.core.lifecycle import AsyncResource
from orchestration.core.network import local_url, url_host
from orchestration.core.settings import Settings
from orchestration.stack.commands import (
    bridge_command,
    registry_command,
    tansu_command,
    temporal_command,
    worker_command,
    worker_env,
)
from orchestration.stack.ports import PortNeed, check_ports
from orchestration.stack.processes import ManagedProcess
from orchestration.stack.readiness import (
    wait_for_http,
    wait_for_kafka,
    wait_for_port,
    wait_for_temporal,
)

__all__ = ["EmbeddedStack"]

log = logging.getLogger(__name__)


def mask_url(url: str) -> str:
    """A database URL with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # shown as nothing rather than leaked
        return "<unparsable database URL>"


class EmbeddedStack(AsyncResource):
    """The local stack behind ``orchestration up``.

    Use it as ``async with EmbeddedStack(settings) as stack: ...`` or call :meth:`start`
    and :meth:`stop`. Child output goes to ``<state_dir>/logs/<part>.log``.

    Args:
        settings: where each part listens, and which parts start here.
        startup_timeout_s: how long each part may take to answer.
        stop_timeout_s: how long each child may take to exit after SIGTERM before SIGKILL.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        startup_timeout_s: float = 60.0,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self._settings = settings
        self._startup_timeout_s = startup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._temporal: ManagedProcess | None = None
        self._kafka: ManagedProcess | None = None
        self._registry: ManagedProcess | None = None
        self._worker: ManagedProcess | None = None
        self._bridge: ManagedProcess | None = None
        self._started = False

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def log_dir(self) -> Path:
        """Where each child's output goes."""
        return self._settings.state_dir / "logs"

    @property
    def processes(self) -> tuple[ManagedProcess, ...]:
        """The children started so far, in start order."""
        children = (self._temporal, self._kafka, self._registry, self._worker, self._bridge)
        return tuple(p for p in children if p is not None)

    @property
    def addresses(self) -> dict[str, str]:
        """Name → address of every part, in start order (database password masked)."""
        s = self._settings
        addresses = {"Temporal gRPC": s.temporal.address}
        if s.temporal.starts_embedded:
            addresses["Web UI"] = self.web_ui_url
        addresses["Kafka"] = ",".join(s.kafka.bootstrap_servers)
        addresses["Database"] = mask_url(s.database_url)
        addresses["Registry API"] = self.registry_url
        addresses["Metrics"] = self.metrics_url
        if s.temporal.metrics_port is not None:
            addresses["SDK metrics"] = self._local_url(s.temporal.metrics_port)
        if s.bridge.config is not None:
            addresses["Bridge metrics"] = self.bridge_metrics_url
        return addresses

    @property
    def bridge_metrics_url(self) -> str:
        return self._local_url(self._settings.bridge.metrics_port)

    def _local_url(self, port: int) -> str:
        """The /metrics URL of a child serving on ``ORCH_METRICS_HOST`` and ``port``."""
        return local_url(self._settings.metrics_host, port, "/metrics")

    @property
    def web_ui_url(self) -> str:
        temporal = self._settings.temporal
        return f"http://{url_host(temporal.host)}:{temporal.ui_port}"

    @property
    def registry_url(self) -> str:
        """The registry service: ``ORCH_REGISTRY_URL``, or the one this stack runs."""
        return self._settings.registry.service_urls[0]

    @property
    def metrics_url(self) -> str:
        return self._local_url(self._settings.metrics_port)

    def port_needs(self) -> list[PortNeed]:
        """The ports this stack will listen on, given its settings."""
        s = self._settings
        needs = []
        if s.temporal.starts_embedded:
            needs += [
                PortNeed("Temporal gRPC", s.temporal.host, s.temporal.port,
                         "ORCH_TEMPORAL_ADDRESS"),
                PortNeed("Temporal Web UI", s.temporal.host, s.temporal.ui_port,
                         "ORCH_TEMPORAL_UI_PORT"),
            ]  # fmt: skip
        if s.kafka.starts_embedded:
            needs.append(
                PortNeed("Kafka broker", s.kafka.host, s.kafka.port, "ORCH_KAFKA_BOOTSTRAP_SERVERS")
            )
        if not s.registry.url:
            needs.append(
                PortNeed("registry service", s.registry.host, s.registry.port,
                         "ORCH_REGISTRY_PORT")
            )  # fmt: skip
        needs.append(PortNeed("metrics", s.metrics_host, s.metrics_port, "ORCH_METRICS_PORT"))
        if s.temporal.metrics_port is not None:
            needs.append(
                PortNeed("Temporal SDK metrics", s.metrics_host, s.temporal.metrics_port,
                         "ORCH_TEMPORAL_METRICS_PORT")
            )  # fmt: skip
        if s.bridge.config is not None:
            needs.append(
                PortNeed("bridge metrics", s.metrics_host, s.bridge.metrics_port,
                         "ORCH_BRIDGE_METRICS_PORT")
            )  # fmt: skip
        return needs

    async def start(self) -> None:
        """Start every part in order and wait until each answers.

        Raises:
            PortInUseError: a port is taken (checked before anything starts).
            StackError: a part did not answer in time or exited; whatever had started is
                stopped again.
        """
        if self._started:
            raise StackError("the embedded stack is already started")
        check_ports(self.port_needs())
        self._started = True
        self._settings.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self._start_temporal()
            await self._start_kafka()
            await self._migrate()
            await self._start_registry()
            await self._start_worker()
            await self._start_bridge()
        except BaseException:
            await self.stop()
            raise
        log.info("embedded stack is up (logs in %s)", self.log_dir)

    async def stop(self) -> None:
        """Stop the children: bridge and worker first, then Temporal, then Kafka. Safe to call
        twice."""
        for attr in ("_bridge", "_worker", "_registry", "_temporal", "_kafka"):
            process: ManagedProcess | None = getattr(self, attr)
            if process is None:
                continue
            if process.alive:
                log.info("stopping %s", process.name)
            code = await process.stop(self._stop_timeout_s)
            log.debug("%s exited with code %s", process.name, code)
            setattr(self, attr, None)
        self._started = False

    # ``async with stack:`` starts it and stops it again.
    initialize = start
    close = stop

    async def wait_failed(self) -> ManagedProcess:
        """Wait until a child exits, and return it (its ``returncode`` and ``log_file``).

        Raises:
            StackError: no child is running.
        """
        processes = self.processes
        if not processes:
            raise StackError("the embedded stack runs no process")
        waits = {asyncio.ensure_future(p.wait()): p for p in processes}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return waits[next(iter(done))]

    async def _spawn(
        self, name: str, argv: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        return await ManagedProcess.spawn(
            name, argv, log_file=self.log_dir / f"{log_name}.log", env=env
        )

    async def _start_temporal(self) -> None:
        s = self._settings
        timeout = self._startup_timeout_s
        if not s.temporal.starts_embedded:
            log.info("using the Temporal server at %s", s.temporal.address)
            await wait_for_temporal(s, timeout_s=timeout)
            return
        log.info(
            "starting Temporal dev server on %s (history in %s)",
            s.temporal.address,
            s.temporal_db_file,
        )
        self._temporal = await self._spawn("Temporal", temporal_command(s), "temporal")
        await wait_for_temporal(s, timeout_s=timeout, process=self._temporal)
        await wait_for_http(
            "Temporal Web UI", self.web_ui_url, timeout_s=timeout, process=self._temporal
        )

    async def _start_kafka(self) -> None:
        s = self._settings
        timeout = self._startup_timeout_s
        if s.kafka.starts_embedded:
            log.info(
                "starting Tansu Kafka broker on %s:%d (in-memory storage)",
                s.kafka.host,
                s.kafka.port,
            )
            self._kafka = await self._spawn("Kafka broker", tansu_command(s), "kafka")
            await wait_for_port(
                "Kafka broker", s.kafka.host, s.kafka.port, timeout_s=timeout, process=self._kafka
            )
        else:
            log.info("using the Kafka cluster at %s", ",".join(s.kafka.bootstrap_servers))
        await wait_for_kafka(s.kafka.bootstrap_servers, timeout_s=timeout, process=self._kafka)

    async def _start_registry(self) -> None:
        s = self._settings
        health = f"{self.registry_url}/health"
        if s.registry.url:
            log.info("using the registry service at %s", s.registry.url)
        else:
            log.info("starting the registry service on %s", self.registry_url)
            self._registry = await self._spawn(
                "registry service", registry_command(), "registry", env=worker_env(s)
            )
        await wait_for_http(
            "registry service", health, timeout_s=self._startup_timeout_s, process=self._registry
        )

    async def _migrate(self) -> None:
        s = self._settings
        if not s.database.auto_migrate:
            log.info("not migrating the database (ORCH_DATABASE_AUTO_MIGRATE is false)")
            return
        from registry.store.migrations import upgrade

        where = mask_url(s.database_url)
        log.info("applying database migrations to %s", where)
        try:
            applied = await asyncio.wait_for(upgrade(s.database_url), self._startup_timeout_s)
        except OrchestrationError:
            raise
        except TimeoutError as exc:
            raise StackError(
                f"database migrations on {where} did not finish within "
                f"{self._startup_timeout_s:.0f} s (ORCH_DATABASE_URL)"
            ) from exc
        except Exception as exc:
            raise StackError(
                f"database migrations on {where} failed (ORCH_DATABASE_URL): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if applied:
            log.info("applied %d migration(s): %s", len(applied), ", ".join(applied))

    async def _start_worker(self) -> None:
        s = self._settings
        log.info("starting the orchestration worker on task queue %r", s.task_queue)
        self._worker = await self._spawn("worker", worker_command(), "worker", env=worker_env(s))
        await wait_for_http(
            "worker", self.metrics_url, timeout_s=self._startup_timeout_s, process=self._worker
        )

    async def _start_bridge(self) -> None:
        s = self._settings
        if s.bridge.config is None:
            return
        from bus.bridge_config import BridgeConfig

        BridgeConfig.load(s.bridge.config)  # a bad file fails here, with its one-line reason
        log.info("starting the Kafka -> Temporal bridge (%s)", s.bridge.config)
        env = worker_env(s)
        env.pop("ORCH_TEMPORAL_METRICS_PORT", None)  # the worker serves the SDK's metrics
        self._bridge = await self._spawn("bridge", bridge_command(), "bridge", env=env)
        await wait_for_http(
            "bridge",
            self.bridge_metrics_url,
            timeout_s=self._startup_timeout_s,
            process=self._bridge,
        )
