"""What the Kafka → Temporal bridge does: which topic signals which workflows, and how.

A route maps a logical topic to a workflow type, a workflow id template, a signal name and a
task queue. The template is filled from the message's fields with ``{name}`` placeholders:
``sender_id``, ``recipient_id``, ``message_type``, ``message_id``, ``correlation_id``,
``payload.<key>`` (dotted for nested keys) and ``headers.<name>``; nothing else is evaluated.
Route by entity (``emissions-{payload.facility_id}``), never one workflow per topic: Temporal
advises a few signals per second per workflow, so a single workflow for a busy topic would
fall behind.

Loaded from YAML or JSON::

    routes:
      - topic: facility.readings
        workflow: FacilityEmissionsWorkflow
        workflow_id: "facility-{payload.facility_id}"
        signal: reading
        task_queue: orchestration
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bus.message import Message
from bus.topics import check_topic
from orchestration.core.exceptions import ConfigurationError, TemplateError, ValidationError
from orchestration.core.validation import describe

__all__ = ["BridgeConfig", "BridgeRoute", "render_workflow_id"]

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIELD = re.compile(
    r"^(sender_id|recipient_id|message_type|message_id|correlation_id"
    r"|payload(\.[A-Za-z0-9_\-]+)+|headers\.[A-Za-z0-9._\-]+)$"
)
_ID_SAFE = re.compile(r"[^A-Za-z0-9._:\-/=@]")
MAX_WORKFLOW_ID = 1000

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,199}$")]


class BridgeRoute(BaseModel):
    """One topic's messages, each signalled to the workflow its id template names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str
    workflow: Name
    workflow_id: Annotated[str, StringConstraints(min_length=1, max_length=500)]
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
    def _template(cls, value: str) -> str:
        names = _PLACEHOLDER.findall(value)
        bad = [name for name in names if not _FIELD.match(name)]
        if bad:
            raise ValueError(
                f"unknown placeholder(s) {', '.join('{' + b + '}' for b in bad)}: use sender_id, "
                "recipient_id, message_type, message_id, correlation_id, payload.<key> or "
                "headers.<name>"
            )
        if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
            raise ValueError("unbalanced braces")
        return value

    @property
    def consumer_group(self) -> str:
        return self.group_id or f"bridge.{self.topic}"


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


def _lookup(message: Message, name: str) -> Any:
    if name.startswith("payload."):
        current: Any = message.payload
        for part in name.split(".")[1:]:
            if not isinstance(current, dict) or part not in current:
                return None
            current = current[part]
        return current
    if name.startswith("headers."):
        return message.headers.get(name[len("headers.") :])
    value = getattr(message, name)
    return getattr(value, "value", value)


def render_workflow_id(template: str, message: Message) -> str:
    """The workflow id ``template`` names for ``message``.

    Values are turned into text (characters outside ``A-Z a-z 0-9 . _ : - / = @`` become
    ``_``), so a payload cannot smuggle anything into the id.

    Raises:
        TemplateError: a placeholder's field is missing, empty, a list/dict, or the id is too
            long.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = _lookup(message, name)
        if value is None or value == "" or isinstance(value, (dict, list, bool)):
            problem = "missing" if value is None or value == "" else "not a scalar"
            raise TemplateError(
                f"message {message.message_id} cannot name a workflow: {name} is {problem}",
                errors=[{"field": name, "problem": problem}],
            )
        return _ID_SAFE.sub("_", str(value))

    workflow_id = _PLACEHOLDER.sub(fill, template)
    if len(workflow_id) > MAX_WORKFLOW_ID:
        raise TemplateError(
            f"message {message.message_id} names a workflow id of {len(workflow_id)} characters "
            f"(at most {MAX_WORKFLOW_ID})",
            errors=[{"field": "workflow_id", "problem": "too long"}],
        )
    return workflow_id
