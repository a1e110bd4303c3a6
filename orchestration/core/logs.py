"""Logs that explain: an expected failure is one line, an unexpected one keeps its traceback,
libraries' routine chatter stays out of INFO, and a line leads to its trace.

The Temporal SDK logs every failed activity with its traceback. When an agent action fails
on purpose (invalid input, or an ``OrchestrationError`` with ``retriable=False``, both
non-retryable ``ApplicationError`` s) the traceback only buries the reason: this filter folds
the error into the message instead. Retryable failures keep their traceback (they are bugs
or outages someone has to read).
"""

from __future__ import annotations

import json
import logging
import time

from opentelemetry import trace
from temporalio.exceptions import ApplicationError

__all__ = [
    "QUIETED",
    "ExpectedFailureFilter",
    "JsonFormatter",
    "TraceContext",
    "formatter",
    "install",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(trace)s"

QUIETED = ("alembic", "httpx", "httpcore")
"""Loggers kept at WARNING unless the level is DEBUG: Alembic's plugin set-up lines on every
start (our own logs say which migrations ran) and one httpx line per registry request (a
heartbeat of every agent, every interval)."""


class ExpectedFailureFilter(logging.Filter):
    """Turn a non-retryable ``ApplicationError``'s traceback into ``: <type>: <message>``."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ApplicationError) and error.non_retryable:
            kind = error.type or "ApplicationError"
            record.msg = f"{record.getMessage()}: {kind}: {error.message}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def install(level: str = "INFO") -> None:
    """Filter the SDK's activity logger, and quiet :data:`QUIETED` unless ``level`` is
    DEBUG (idempotent)."""
    logger = logging.getLogger("temporalio.activity")
    if not any(isinstance(f, ExpectedFailureFilter) for f in logger.filters):
        logger.addFilter(ExpectedFailureFilter())
    if level != "DEBUG":
        for name in QUIETED:
            logging.getLogger(name).setLevel(logging.WARNING)


class TraceContext(logging.Filter):
    """Give every record ``trace_id`` and ``span_id`` (32 and 16 hex digits, of the span
    current where it was logged; empty outside one) and ``trace``: `` trace_id=...`` for the
    text format, empty when there is no span."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        trace_id = span_id = text = ""
        if context.is_valid:
            trace_id, span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
            text = f" trace_id={trace_id} span_id={span_id}"
        record.trace_id, record.span_id, record.trace = trace_id, span_id, text
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``trace_id`` and ``span_id`` when the line was logged inside a span, ``error`` with the
    traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id = getattr(record, "trace_id", "")
        if trace_id:
            line["trace_id"] = trace_id
            line["span_id"] = getattr(record, "span_id", "")
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    """The formatter of ``ORCH_LOG_FORMAT``: ``text`` or ``json``."""
    if kind == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)
