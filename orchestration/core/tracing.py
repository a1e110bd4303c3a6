"""Traces across every hop, on the OpenTelemetry SDK's own ``OTEL_*`` settings; off by default.

Tracing is on in a process when one of these is set (and ``OTEL_SDK_DISABLED`` is not
``true``):

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: spans go over
  OTLP (``http/protobuf``, e.g. ``http://otel-collector:4318``);
- ``OTEL_TRACES_EXPORTER``: ``otlp``, ``console`` or both (``none`` keeps it off).

The SDK reads the rest itself: ``OTEL_SERVICE_NAME`` (else the process's own name, e.g.
``orchestration-worker``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
``OTEL_PROPAGATORS`` (W3C ``traceparent``/``tracestate`` by default), ``OTEL_BSP_*``,
``OTEL_EXPORTER_OTLP_HEADERS``. A process whose code already installed an SDK
``TracerProvider`` keeps it: ours is not installed over it, and our spans go to it.

Off, nothing is imported beyond the API, no interceptor is added to Temporal clients, no
header is added to Kafka records, and :func:`span` is a shared no-op context manager: the
cost is one ``if`` per hop (``bench/saga.py --tracing`` measures it).

What goes where: Temporal's ``TracingInterceptor`` (every client from
:func:`orchestration.core.temporal_client.connect`, so every worker built on one) carries
the context from a client through workflows into activities in Temporal headers; the bus
carries it in Kafka record headers (:func:`inject`, :func:`extract`); our own spans
(:func:`span`) add what operators ask: saga, step, agent, attempt, topic, offset.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, MutableSequence, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from orchestration.core.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_SERVICE",
    "Attached",
    "SpanKind",
    "active",
    "attach_remote",
    "detach",
    "extract",
    "failed",
    "flush",
    "inject",
    "instrument_fastapi",
    "instrument_httpx",
    "mark_failed",
    "setup",
    "span",
    "temporal_interceptors",
    "wanted",
]

log = logging.getLogger(__name__)

DEFAULT_SERVICE = "orchestration-client"
"""``service.name`` of a process that named none (a Python client), unless
``OTEL_SERVICE_NAME`` says otherwise."""

TRACER_NAME = "greenlang.orchestration"

_state: dict[str, Any] = {"active": False, "interceptor": None}


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` settings in ``environ`` (default: the process's) ask for traces."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(env)
    if exporters:
        return exporters != ["none"]
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def active() -> bool:
    """Whether this process traces (after :func:`setup`)."""
    return bool(_state["active"])


def setup(service_name: str = DEFAULT_SERVICE) -> bool:
    """Turn tracing on for this process if the ``OTEL_*`` settings ask for it; idempotent,
    the first call's ``service_name`` wins. Returns :func:`active`.

    Raises:
        ConfigurationError: an exporter or OTLP protocol this install cannot use, named with
            its setting.
    """
    if _state["active"]:
        return True
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):  # the application's own provider
        _state["active"] = True
        return True
    if not wanted():
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [_exporter(name) for name in _exporter_names(os.environ) or ["otlp"]]
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _state["active"] = True
    log.info("tracing on: service %s, exporting to %s", name, _destination())
    return True


def _exporter_names(env: Mapping[str, str]) -> list[str]:
    raw = env.get("OTEL_TRACES_EXPORTER", "")
    return [part.strip().lower() for part in raw.split(",") if part.strip()]


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER: {name!r} is not an exporter this install has "
            "(otlp, console or none)",
            setting="OTEL_TRACES_EXPORTER",
        )
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported; this install "
            "exports OTLP over http/protobuf (a collector's port 4318)",
            setting="OTEL_EXPORTER_OTLP_PROTOCOL",
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _destination() -> str:
    names = _exporter_names(os.environ) or ["otlp"]
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318") + " (OTLP)"
    )
    return ", ".join(endpoint if name == "otlp" else name for name in names)


FLUSH_TIMEOUT_MS = 3_000
"""How long :func:`flush` waits for the exporter at exit before spans are given up."""


def flush(timeout_ms: int = FLUSH_TIMEOUT_MS) -> None:
    """Export the spans still buffered (a process about to exit); bounded by ``timeout_ms``."""
    if not _state["active"]:
        return
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        try:
            force_flush(timeout_ms)
        except Exception as exc:  # an exporter's failure must not change the exit code
            log.warning("could not export the last spans: %s", exc)


def temporal_interceptors() -> list[Any]:
    """``[TracingInterceptor]`` for a Temporal client when tracing is on, else ``[]``.

    One interceptor per process: it carries the span context in Temporal headers from the
    client to workflows and from workflows to activities, on every worker of that client.
    """
    if not setup():
        return []
    if _state["interceptor"] is None:
        from temporalio.contrib.opentelemetry import TracingInterceptor

        _state["interceptor"] = TracingInterceptor(trace.get_tracer(TRACER_NAME))
    return [_state["interceptor"]]


class _NoSpan(contextlib.AbstractContextManager[None]):
    """``with span(...) as current``: ``current`` is None when tracing is off."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_SPAN = _NoSpan()


Attributes = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None
"""A span's attributes, or a function returning them: called only when tracing is on, so
that an off process does not build them."""


def span(
    name: str,
    attributes: Attributes = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span as the current one for the ``with`` block (``None`` when tracing is off).

    An exception leaving the block sets the span's status to ERROR with the exception's type
    and records it. ``parent``: a context from :func:`extract` (the producer's span).
    """
    if not _state["active"]:
        return _NO_SPAN
    return _current_span(name, _clean(attributes), kind, parent)


@contextlib.contextmanager
def _current_span(
    name: str,
    attributes: Mapping[str, Any] | None,
    kind: SpanKind,
    parent: otel_context.Context | None,
) -> Iterator[Span]:
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            failed(current, exc)
            raise


def failed(current: Span | None, error: BaseException) -> None:
    """Mark ``current`` as failed by ``error`` (its type as the status description)."""
    if current is None:
        return
    kind = getattr(error, "type", None) or type(error).__name__
    current.set_status(Status(StatusCode.ERROR, f"{kind}: {error}"[:500]))
    current.set_attribute("error.type", str(kind))
    current.record_exception(error)


def _clean(attributes: Attributes) -> dict[str, Any] | None:
    """Attributes without the ``None`` values OpenTelemetry refuses."""
    if callable(attributes):
        attributes = attributes()
    if not attributes:
        return None
    return {k: v for k, v in attributes.items() if v is not None}


class _HeaderList(Setter[MutableSequence[tuple[str, bytes]]], Getter[Sequence[tuple[str, bytes]]]):
    """Kafka record headers (``[(name, bytes)]``) as a propagation carrier."""

    def set(self, carrier: MutableSequence[tuple[str, bytes]], key: str, value: str) -> None:
        carrier.append((key, value.encode()))

    def get(self, carrier: Sequence[tuple[str, bytes]], key: str) -> list[str] | None:
        found = [raw.decode("utf-8", "replace") for name, raw in carrier if name == key]
        return found or None

    def keys(self, carrier: Sequence[tuple[str, bytes]]) -> list[str]:
        return [name for name, _ in carrier]


_HEADERS = _HeaderList()


def inject(headers: MutableSequence[tuple[str, bytes]]) -> None:
    """Add the current span's ``traceparent`` (and ``tracestate``) to Kafka record headers;
    nothing when tracing is off or no span is current."""
    if _state["active"]:
        propagate.inject(headers, setter=_HEADERS)


def extract(headers: Sequence[tuple[str, bytes]] | None) -> otel_context.Context | None:
    """The producer's span context in Kafka record headers; ``None`` when tracing is off or
    the record carries none."""
    if not _state["active"] or not headers:
        return None
    if not any(name == "traceparent" for name, _ in headers):
        return None
    return propagate.extract(headers, getter=_HEADERS)


Attached = tuple[Span, object]
"""A span made current by :func:`attach_remote`, and the token that restores the context."""


def attach_remote(
    name: str, parent: otel_context.Context | None, attributes: Attributes
) -> Attached | None:
    """Start a CONSUMER span under ``parent`` and make it current until :func:`detach`: for
    a loop that hands out one message at a time (``async for message in subscription``)."""
    if not _state["active"]:
        return None
    tracer = trace.get_tracer(TRACER_NAME)
    current = tracer.start_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=_clean(attributes)
    )
    token = otel_context.attach(trace.set_span_in_context(current))
    return current, token


def detach(handle: Attached | None, *, restore: bool = True) -> None:
    """End a span from :func:`attach_remote` and, with ``restore``, bring back the context
    before it (only from the context it was attached in)."""
    if handle is None:
        return
    current, token = handle
    current.end()
    if restore:
        otel_context.detach(token)  # type: ignore[arg-type]


def mark_failed(error: BaseException) -> None:
    """Mark the current span as failed by ``error`` (see :func:`failed`)."""
    if _state["active"]:
        failed(trace.get_current_span(), error)


UNTRACED_PATHS = "/health,/metrics,/heartbeats,/agents/[^/]+/heartbeat"
"""Registry requests that get no span unless ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`` /
``OTEL_PYTHON_HTTPX_EXCLUDED_URLS`` say otherwise: probes, scrapes and every agent's
heartbeat each interval, which would bury the traces of work."""


def instrument_fastapi(app: Any) -> None:
    """Server spans for a FastAPI application's requests, continuing the caller's trace
    (W3C headers); nothing when tracing is off."""
    if not setup():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    excluded = os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", UNTRACED_PATHS)
    FastAPIInstrumentor.instrument_app(app, excluded_urls=excluded)


def instrument_httpx(client: Any) -> None:
    """Client spans for an ``httpx.AsyncClient``'s requests, with the W3C headers that let
    the server continue the trace; nothing when tracing is off."""
    if not setup():
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    os.environ.setdefault("OTEL_PYTHON_HTTPX_EXCLUDED_URLS", UNTRACED_PATHS)
    HTTPXClientInstrumentor.instrument_client(client)
