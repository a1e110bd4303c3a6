"""An agent's expected failure is one log line; an unexpected one keeps its traceback."""

from __future__ import annotations

import logging

import pytest
from temporalio.exceptions import ApplicationError

from orchestration.core import logs as log_filters


def failing_record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException as exc:
        return logging.LogRecord(
            "temporalio.activity", logging.WARNING, __file__, 1, "activity failed (%s)",
            ({"activity_type": "validate"},), (type(exc), exc, exc.__traceback__),
        )  # fmt: skip


def test_a_non_retryable_failure_becomes_one_line_naming_it() -> None:
    record = failing_record(
        ApplicationError("F999 is negative", type="AgentError", non_retryable=True)
    )
    assert log_filters.ExpectedFailureFilter().filter(record)
    text = logging.Formatter("%(message)s").format(record)
    assert text == "activity failed ({'activity_type': 'validate'}): AgentError: F999 is negative"


@pytest.mark.parametrize("error", [ApplicationError("flaky"), RuntimeError("bug")])
def test_other_failures_keep_their_traceback(error: BaseException) -> None:
    record = failing_record(error)
    assert log_filters.ExpectedFailureFilter().filter(record)
    assert "Traceback" in logging.Formatter("%(message)s").format(record)


def test_install_is_idempotent() -> None:
    log_filters.install()
    log_filters.install()
    filters = logging.getLogger("temporalio.activity").filters
    assert sum(isinstance(f, log_filters.ExpectedFailureFilter) for f in filters) == 1


def test_install_keeps_library_chatter_out_of_info_unless_debugging() -> None:
    try:
        log_filters.install("INFO")
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("alembic.runtime.plugins").getEffectiveLevel() == logging.WARNING
        logging.getLogger("httpx").setLevel(logging.NOTSET)
        log_filters.install("DEBUG")
        assert logging.getLogger("httpx").level == logging.NOTSET  # DEBUG shows everything
    finally:
        for name in log_filters.QUIETED:
            logging.getLogger(name).setLevel(logging.NOTSET)
