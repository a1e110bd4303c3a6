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

from prometheus_client import start_http_server
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from orchestration.core.exceptions import ConfigurationError
from orchestration.core.network import url_host
from orchestration.core.settings import Settings

__all__ = ["MS_BUCKETS", "sdk_runtime", "serve_metrics"]

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

log = logging.getLogger(__name__)

_lock = threading.Lock()
_runtime: Runtime | None = None
_runtime_address: str | None = None
_served: dict[tuple[str, int], str] = {}


def serve_metrics(port: int, host: str, *, setting: str, what: str) -> str:
    """Serve this process's ``/metrics`` on ``host:port``; return its URL.

    Idempotent per address: a second agent of the same process shares the endpoint.

    Raises:
        ConfigurationError: the port is taken or the host cannot be bound; the message names
            ``setting``, the variable that moves it.
    """
    with _lock:
        if (host, port) in _served:
            return _served[host, port]
        try:
            start_http_server(port, addr=host)
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
