"""One way for a process to serve ``/metrics``, the Temporal SDK's own metrics, and the
millisecond buckets every ``*_ms`` histogram uses.

Our metrics (the quick reference's names) come from ``prometheus_client`` and are served by
:func:`serve_metrics`. The Temporal SDK's metrics (worker polls, task latencies, sticky cache)
come from its Rust core: :func:`sdk_runtime` builds the process's one ``Runtime`` with the
SDK's Prometheus exporter when ``ORCH_TEMPORAL_METRICS_PORT`` is set; both bind on
``ORCH_METRICS_HOST``.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from orchestration.core.exceptions import ConfigurationError
from orchestration.core.network import url_host
from orchestration.core.settings import Settings

__all__ = [
    "AGENT_FAMILIES",
    "BRIDGE_FAMILIES",
    "BUS_FAMILIES",
    "MS_BUCKETS",
    "REGISTRY_FAMILIES",
    "WORKER_FAMILIES",
    "families_registry",
    "sdk_runtime",
    "serve_metrics",
]

MS_BUCKETS = (
    1,
    2,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    1_800_000,
)
"""Bucket bounds, in milliseconds, of every ``*_ms`` histogram: 1 ms to 30 minutes."""

WORKER_FAMILIES = ("saga_", "pipeline_", "swarm_")
"""What the orchestration worker updates: the workflows' metrics."""
REGISTRY_FAMILIES = ("registry_", "routing_")
"""What the registry service updates (``message_bus_`` too when it ingests Kafka heartbeats)."""
BUS_FAMILIES = ("message_bus_",)
"""What a process with a :class:`~bus.message_bus.MessageBus` updates."""
BRIDGE_FAMILIES = ("bridge_", *BUS_FAMILIES)
"""What the bridge updates."""
AGENT_FAMILIES = (*BUS_FAMILIES, "scatter_gather_")
"""What an agent process may update: the bus when it serves or calls over Kafka."""
_PLATFORM = ("process_", "python_")
"""The client library's own collectors (memory, CPU, GC), served by every process."""

log = logging.getLogger(__name__)


class _Families(Collector):
    """The families of the default registry whose names start with one of ``prefixes``:
    a process serves the metrics it updates, not every module it happens to import."""

    def __init__(self, prefixes: Sequence[str]) -> None:
        self._prefixes = (*prefixes, *_PLATFORM)

    def collect(self) -> Iterator[Metric]:
        for family in REGISTRY.collect():
            if family.name.startswith(self._prefixes):
                yield family


def families_registry(prefixes: Sequence[str]) -> CollectorRegistry:
    """A registry serving only the families named by ``prefixes`` (and the platform's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(prefixes))
    return registry


_lock = threading.Lock()
_runtime: Runtime | None = None
_runtime_address: str | None = None
_served: dict[tuple[str, int], str] = {}


def serve_metrics(port: int, host: str, *, setting: str, what: str, families: Sequence[str]) -> str:
    """Serve this process's ``/metrics`` on ``host:port``: the families whose names start
    with one of ``families`` (what it updates) and the platform's; return its URL.

    Idempotent per address: a second agent of the same process shares the endpoint.

    Raises:
        ConfigurationError: the port is taken or the host cannot be bound; the message names
            ``setting``, the variable that moves it.
    """
    with _lock:
        if (host, port) in _served:
            return _served[host, port]
        try:
            start_http_server(port, addr=host, registry=families_registry(families))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"failed: {exc}"
            raise ConfigurationError(
                f"cannot serve /metrics of the {what} on {host}:{port}: the port {reason}; "
                f"set {setting} to a free port",
                setting=setting,
            ) from None
        url = _served[host, port] = f"http://{url_host(host)}:{port}/metrics"
    log.info("%s metrics on %s", what, url)
    return url


def sdk_runtime(settings: Settings) -> Runtime | None:
    """The process's Temporal runtime exporting SDK metrics, or None when they are off.

    Built once per process (the exporter binds its port once); later calls return the same
    runtime. Pass it to :func:`orchestration.temporal_client.connect`.

    Raises:
        ConfigurationError: the port cannot be bound (naming ``ORCH_TEMPORAL_METRICS_PORT``).
    """
    global _runtime, _runtime_address
    port = settings.temporal.metrics_port
    if port is None:
        return None
    address = f"{settings.metrics_host}:{port}"
    with _lock:
        if _runtime is not None:
            if address != _runtime_address:
                log.warning(
                    "Temporal SDK metrics already served on %s; ignoring %s",
                    _runtime_address,
                    address,
                )
            return _runtime
        try:
            runtime = Runtime(
                telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
            )
        except Exception as exc:  # the Rust core raises a plain exception on bind errors
            raise ConfigurationError(
                f"cannot serve Temporal SDK metrics on {address}: {exc}; set "
                "ORCH_TEMPORAL_METRICS_PORT to a free port, or unset it",
                setting="ORCH_TEMPORAL_METRICS_PORT",
            ) from None
        _runtime, _runtime_address = runtime, address
    log.info("Temporal SDK metrics on http://%s:%d/metrics", url_host(settings.metrics_host), port)
    return runtime
