"""Filling a bridge route's templates: the workflow id of a message or a foreign record, and
a foreign record's dedupe id (:mod:`bus.bridge_config` says what a template may name)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bus.bridge_config import PLACEHOLDER
from bus.message import Message
from orchestration.core.exceptions import TemplateError

__all__ = [
    "MAX_DEDUPE_ID",
    "MAX_WORKFLOW_ID",
    "JsonRecord",
    "render_dedupe_id",
    "render_workflow_id",
]

_ID_SAFE = re.compile(r"[^A-Za-z0-9._:\-/=@]")
MAX_WORKFLOW_ID = 1000
MAX_DEDUPE_ID = 1000


@dataclass(frozen=True, slots=True)
class JsonRecord:
    """One record of a ``format: json`` route: its JSON value, key, headers and place.

    ``key`` and the header values are the record's bytes; templates read them as UTF-8 text
    (``{key}``, ``{header.<name>}``: the last header of that name), ``{value.<path>}`` walks
    the value (a number indexes a list), ``{topic}``, ``{partition}``, ``{offset}`` are the
    record's place.
    """

    value: Any
    key: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    def field(self, name: str) -> Any:
        """The value of template field ``name``: None when missing, the bytes themselves
        when a key or header is not UTF-8 text."""
        raw: bytes | None
        if name == "key":
            raw = self.key
        elif name.startswith("header."):
            wanted = name[len("header.") :]
            raw = next((v for k, v in reversed(self.headers) if k == wanted), None)
        elif name.startswith("value."):
            current: Any = self.value
            for part in name.split(".")[1:]:
                if isinstance(current, dict) and part in current:
                    current = current[part]
                elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
                    current = current[int(part)]
                else:
                    return None
            return current
        else:
            return getattr(self, name)  # topic, partition, offset
        if raw is None:
            return None
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return raw

    def signal_argument(self, dedupe_id: str) -> dict[str, Any]:
        """The signal's one argument: ``id`` (the dedupe id), ``value`` (the JSON value as it
        is), ``key`` (text or null), ``headers`` (name to text; the last of a repeated name,
        null for a null value), ``topic``, ``partition``, ``offset``, ``timestamp_ms``.
        Undecodable bytes of the key and headers become U+FFFD."""
        return {
            "id": dedupe_id,
            "value": self.value,
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
            "headers": {
                name: None if raw is None else raw.decode("utf-8", "replace")
                for name, raw in self.headers
            },
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
        }


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


def _render(
    template: str,
    lookup: Callable[[str], Any],
    *,
    source: str,
    names: str,
    field: str,
    limit: int,
    safe: bool,
) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = lookup(name)
        problem = None
        if value is None or value == "":
            problem = "missing"
        elif isinstance(value, bytes):
            problem = "not UTF-8 text"
        elif isinstance(value, (dict, list, bool)):
            problem = "not a scalar"
        if problem is not None:
            raise TemplateError(
                f"{source} cannot name {names}: {name} is {problem}",
                errors=[{"field": name, "problem": problem}],
            )
        return _ID_SAFE.sub("_", str(value)) if safe else str(value)

    rendered = PLACEHOLDER.sub(fill, template)
    if len(rendered) > limit:
        raise TemplateError(
            f"{source} names a {field.replace('_', ' ')} of {len(rendered)} characters "
            f"(at most {limit})",
            errors=[{"field": field, "problem": "too long"}],
        )
    return rendered


def render_workflow_id(template: str, source: Message | JsonRecord) -> str:
    """The workflow id ``template`` names for a message (``format: message``) or a record
    (``format: json``).

    Values are turned into text (characters outside ``A-Z a-z 0-9 . _ : - / = @`` become
    ``_``), so a payload cannot smuggle anything into the id.

    Raises:
        TemplateError: a placeholder's field is missing, empty, a list/dict, not UTF-8 text,
            or the id is too long.
    """
    if isinstance(source, JsonRecord):
        lookup, what = source.field, f"record {source.where}"
    else:
        message = source
        lookup, what = (lambda name: _lookup(message, name)), f"message {message.message_id}"
    return _render(
        template,
        lookup,
        source=what,
        names="a workflow",
        field="workflow_id",
        limit=MAX_WORKFLOW_ID,
        safe=True,
    )


def render_dedupe_id(template: str, record: JsonRecord) -> str:
    """The dedupe id ``template`` names for ``record``: its values as they are (two records
    are repeats exactly when their ids are equal).

    Raises:
        TemplateError: as :func:`render_workflow_id`; at most ``MAX_DEDUPE_ID`` characters.
    """
    return _render(
        template,
        record.field,
        source=f"record {record.where}",
        names="its dedupe id",
        field="dedupe_id",
        limit=MAX_DEDUPE_ID,
        safe=False,
    )
