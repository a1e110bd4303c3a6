"""Tracing's settings and its off path (this process never turns tracing on: the tests that
trace run their processes as children, tests/tracing/)."""

from __future__ import annotations

import logging

import pytest

from bus.codec import encode
from bus.message import Message
from orchestration.core import logs, tracing
from orchestration.core.exceptions import ConfigurationError


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "console"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_SERVICE_NAME": "agents"}, False),  # a name alone exports nothing
    ],
)
def test_tracing_is_on_only_when_the_otel_settings_ask_for_an_exporter(
    environ: dict[str, str], on: bool
) -> None:
    assert tracing.wanted(environ) is on


def test_off_by_default_nothing_is_added_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.setup() is False and not tracing.active()
    assert tracing.temporal_interceptors() == []
    # No trace headers on Kafka records, and span() is the shared no-op yielding None.
    _, _, headers = encode(Message(sender_id="meter", payload={"kwh": 1}))
    assert not [name for name, _ in headers if name in ("traceparent", "tracestate")]
    with tracing.span("anything", {"a": 1}) as current:
        assert current is None
    assert (
        tracing.extract([("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]) is None
    )


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
    ],
)
def test_an_exporter_this_install_lacks_is_a_configuration_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], setting: str
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        tracing.setup()
    assert info.value.setting == setting and setting in str(info.value)
    assert not tracing.active()


def test_a_log_line_outside_a_span_has_empty_trace_fields_and_json_lines_parse() -> None:
    record = logging.LogRecord(
        "orchestration.test", logging.INFO, __file__, 1, "hi %s", ("x",), None
    )
    assert logs.TraceContext().filter(record)
    assert (record.trace_id, record.span_id, record.trace) == ("", "", "")
    line = logs.JsonFormatter().format(record)
    assert '"message": "hi x"' in line and "trace_id" not in line
    assert logs.formatter("text").format(record).endswith("orchestration.test: hi x")
