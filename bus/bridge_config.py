"""What the Kafka → Temporal bridge does: which topic signals which workflows, and how.

A route maps a logical topic to a workflow type, a workflow id template, a signal name and a
task queue. Its ``format`` says what the topic's records hold:

- ``message`` (the default): our :class:`~bus.message.Message` envelope. The template is filled
  from the message's fields with ``{name}`` placeholders: ``sender_id``, ``recipient_id``,
  ``message_type``, ``message_id``, ``correlation_id``, ``payload.<key>`` (dotted for nested
  keys) and ``headers.<name>``.
- ``json``: any JSON value, written by anyone (meter readings, ERP exports, CDC). The
  templates take ``key`` (the record key), ``value.<path>`` (dotted path into the value; a
  number indexes a list), ``header.<name>`` (a Kafka record header; the last one of that name),
  ``topic``, ``partition`` and ``offset``. A json route also has a ``dedupe_id`` template,
  by default ``{topic}/{partition}/{offset}``: the signal carries it as ``id`` (see
  :class:`bus.bridge_templates.JsonRecord`) so workflows drop repeats by it as they drop
  ``message_id``.

Nothing else is evaluated. Route by entity (``emissions-{payload.facility_id}``), never one
workflow per topic: Temporal advises a few signals per second per workflow, so a single
workflow for a busy topic would fall behind.

Loaded from YAML or JSON::

    routes:
      - topic: facility.readings
        workflow: FacilityEmissionsWorkflow
        workflow_id: "facility-{payload.facility_id}"
        signal: reading
        task_queue: orchestration
      - topic: meter.readings
        format: json
        workflow: MeterWorkflow
        workflow_id: "meter-{value.meter_id}"
        dedupe_id: "{value.reading_id}"
        signal: reading
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from bus.topics import check_topic
from orchestration.core.exceptions import ConfigurationError, ValidationError
from orchestration.core.validation import describe

__all__ = ["DEFAULT_DEDUPE_ID", "PLACEHOLDER", "BridgeConfig", "BridgeRoute", "RecordFormat"]

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_MESSAGE_FIELD = re.compile(
    r"^(sender_id|recipient_id|message_type|message_id|correlation_id"
    r"|payload(\.[A-Za-z0-9_\-]+)+|headers\.[A-Za-z0-9._\-]+)$"
)
_RECORD_FIELD = re.compile(
    r"^(key|topic|partition|offset|value(\.[A-Za-z0-9_\-]+)+|header\.[A-Za-z0-9._\-]+)$"
)
_FIELDS = {"message": _MESSAGE_FIELD, "json": _RECORD_FIELD}
_FIELD_NAMES = {
    "message": "sender_id, recipient_id, message_type, message_id, correlation_id, "
    "payload.<key> or headers.<name>",
    "json": "key, topic, partition, offset, value.<path> or header.<name>",
}
DEFAULT_DEDUPE_ID = "{topic}/{partition}/{offset}"
"""A json route's dedupe id unless it names one: the record's place, unique per record."""

RecordFormat = Literal["message", "json"]
"""What a route's records hold: our ``Message`` envelope, or any JSON value."""

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,199}$")]
Template = Annotated[str, StringConstraints(min_length=1, max_length=500)]


def _check_template(value: str, record_format: str | None, *, needs_field: bool) -> str:
    """``value`` if its placeholders are fields of ``record_format`` (either format's when the
    format itself is invalid), else a ValueError saying which names the format takes."""
    names = PLACEHOLDER.findall(value)
    if record_format not in _FIELDS:
        bad = [n for n in names if not any(f.match(n) for f in _FIELDS.values())]
        allowed = " or ".join(_FIELD_NAMES.values())
    else:
        own = _FIELDS[record_format]
        bad = [n for n in names if not own.match(n)]
        allowed = _FIELD_NAMES[record_format]
        for other, fields in _FIELDS.items():
            misplaced = [n for n in bad if other != record_format and fields.match(n)]
            if misplaced:
                raise ValueError(
                    f"{{{misplaced[0]}}} is a field of format: {other} routes, and this route's "
                    f"format is {record_format}: use {allowed}"
                )
    if bad:
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{' + b + '}' for b in bad)}: use {allowed}"
        )
    if "{" in PLACEHOLDER.sub("", value) or "}" in PLACEHOLDER.sub("", value):
        raise ValueError("unbalanced braces")
    if needs_field and not names:
        raise ValueError(
            "must name at least one field (e.g. {value.<path>}): with none, every record "
            "would count as a repeat of the first"
        )
    return value


class BridgeRoute(BaseModel):
    """One topic's records, each signalled to the workflow its id template names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    # Before the templates: their validators read it.
    format: RecordFormat = Field(
        default="message",
        description="message: our Message envelope; json: any JSON value (foreign records).",
    )
    workflow: Name
    workflow_id: Template
    dedupe_id: Template | None = Field(
        default=None,
        description="json routes: the id the signal carries as `id` (default "
        "{topic}/{partition}/{offset}); workflows drop repeats by it.",
    )
    signal: Name
    task_queue: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "orchestration"
    group_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    max_in_flight: int = Field(
        default=32, ge=1, le=1000, description="Signals in flight at once (to different workflows)."
    )

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        try:
            return check_topic(value)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("workflow_id")
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        return _check_template(value, info.data.get("format"), needs_field=False)

    @field_validator("dedupe_id")
    @classmethod
    def _dedupe_template(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        record_format = info.data.get("format")
        if record_format == "message":
            raise ValueError(
                "only a format: json route takes a dedupe id (the workflows of a message "
                "route drop repeats by message_id)"
            )
        return _check_template(value, record_format, needs_field=True)

    @property
    def consumer_group(self) -> str:
        return self.group_id or f"bridge.{self.topic}"

    @property
    def dedupe_template(self) -> str:
        """A json route's dedupe id template (``DEFAULT_DEDUPE_ID`` unless it names one)."""
        return self.dedupe_id or DEFAULT_DEDUPE_ID


class BridgeConfig(BaseModel):
    """Every route of one bridge process; topics must be distinct."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: list[BridgeRoute] = Field(min_length=1, max_length=100)

    @field_validator("routes")
    @classmethod
    def _distinct(cls, value: list[BridgeRoute]) -> list[BridgeRoute]:
        topics = [route.topic for route in value]
        twice = sorted({t for t in topics if topics.count(t) > 1})
        if twice:
            raise ValueError(f"topic(s) routed twice: {', '.join(twice)}")
        return value

    @classmethod
    def load(cls, path: str | Path) -> BridgeConfig:
        """Read a YAML (``.yaml``/``.yml``) or JSON file.

        Raises:
            ConfigurationError: unreadable, not YAML/JSON, or invalid (the text names the field).
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the bridge configuration {str(file)!r}: {exc.strerror}",
                setting="ORCH_BRIDGE_CONFIG",
            ) from None
        try:
            data: Any = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigurationError(
                f"the bridge configuration {str(file)!r} is not valid "
                f"{'JSON' if file.suffix == '.json' else 'YAML'}: {str(exc).splitlines()[0]}",
                setting="ORCH_BRIDGE_CONFIG",
            ) from None
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as exc:
            raise ConfigurationError(
                f"the bridge configuration {str(file)!r} is invalid: {describe(exc, 'file')}",
                setting="ORCH_BRIDGE_CONFIG",
            ) from None
