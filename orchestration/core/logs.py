"""Logs that explain: an expected failure is one line, an unexpected one keeps its traceback,
and libraries' routine chatter stays out of INFO.

The Temporal SDK logs every failed activity with its traceback. When an agent action fails
on purpose (invalid input, or an ``OrchestrationError`` with ``retriable=False``, both
non-retryable ``ApplicationError`` s) the traceback only buries the reason: this filter folds
the error into the message instead. Retryable failures keep their traceback (they are bugs
or outages someone has to read).
"""

from __future__ import annotations

import logging

from temporalio.exceptions import ApplicationError

__all__ = ["QUIETED", "ExpectedFailureFilter", "install"]

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
