"""An OTLP/HTTP receiver for tests and benchmarks: it decodes the real protobuf the SDK's
exporter sends, so a test can assert the traces its processes produced.

``POST /v1/traces`` with an ``ExportTraceServiceRequest`` (``application/x-protobuf``,
optionally gzip) is parsed with ``opentelemetry-proto``'s own classes and every span kept as a
:class:`ReceivedSpan`. It listens on 127.0.0.1 on a free port, in a thread of this process::

    with OtlpReceiver() as receiver:
        env = os.environ | receiver.env("my-agent")  # OTEL_EXPORTER_OTLP_ENDPOINT, ...
        ...  # start processes with env
        spans = await receiver.wait_for(lambda spans: len(spans) >= 5)
        print(describe(spans))
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["OtlpReceiver", "ReceivedSpan", "decode", "describe", "orphans", "trace_of"]

KIND = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    kind: str
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)
    status_code: int = 0  # 2: ERROR
    status_message: str = ""

    @property
    def failed(self) -> bool:
        return self.status_code == 2


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def decode(body: bytes) -> list[ReceivedSpan]:
    """The spans of one ``ExportTraceServiceRequest``."""
    request = ExportTraceServiceRequest.FromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=KIND.get(span.kind, str(span.kind)),
                        service=str(resource.get("service.name", "")),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        status_code=span.status.code,
                        status_message=span.status.message,
                    )
                )
    return spans


class OtlpReceiver:
    """``with OtlpReceiver() as receiver:``; ``receiver.env(service)`` for a process."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                received = decode(body)
                with receiver._lock:
                    receiver.spans.extend(received)
                    receiver.requests += 1
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self, service: str) -> dict[str, str]:
        """What a process needs to export here quickly, as ``service``."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_SERVICE_NAME": service,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def snapshot(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.snapshot() if s.trace_id == trace_id]

    async def wait_for(
        self, found: Callable[[list[ReceivedSpan]], bool], timeout_s: float = 30
    ) -> list[ReceivedSpan]:
        """Poll until ``found(spans)`` holds; the spans. Fails with what arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            spans = self.snapshot()
            if found(spans):
                return spans
            if loop.time() > deadline:
                raise AssertionError(
                    f"the spans expected did not arrive within {timeout_s:g} s; got:\n"
                    + describe(spans)
                )
            await asyncio.sleep(0.05)


def trace_of(spans: Iterable[ReceivedSpan], workflow_id: str) -> list[ReceivedSpan]:
    """The spans of the trace a Temporal span of ``workflow_id`` belongs to (empty if none
    arrived yet): Temporal's interceptor tags its spans with ``temporalWorkflowID``."""
    spans = list(spans)
    ids = {s.trace_id for s in spans if s.attributes.get("temporalWorkflowID") == workflow_id}
    return [s for s in spans if s.trace_id in ids]


def orphans(trace: Iterable[ReceivedSpan]) -> list[ReceivedSpan]:
    """The spans whose parent is not among ``trace``: none once every process's spans of a
    trace have arrived (processes export in batches, each on its own schedule)."""
    trace = list(trace)
    ids = {s.span_id for s in trace}
    return [s for s in trace if s.parent_id and s.parent_id not in ids]


def describe(spans: Iterable[ReceivedSpan]) -> str:
    """One line per span, children indented under parents (for failure messages)."""
    spans = list(spans)
    by_parent: dict[str, list[ReceivedSpan]] = {}
    ids = {s.span_id for s in spans}
    for s in spans:
        by_parent.setdefault(s.parent_id if s.parent_id in ids else "", []).append(s)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for s in by_parent.get(parent, []):
            mark = " ERROR" if s.failed else ""
            lines.append(f"{'  ' * depth}{s.name} [{s.service}] {s.trace_id[:8]}{mark}")
            walk(s.span_id, depth + 1)

    walk("", 0)
    return "\n".join(lines)
