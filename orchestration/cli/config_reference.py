"""The configuration reference, ``docs/configuration.md``, generated from the settings model.

Variable names are derived from :class:`~orchestration.core.settings.Settings` the way
pydantic-settings reads them, so the page cannot drift from the code::

    python -m orchestration.cli.config_reference          # rewrite docs/configuration.md
    python -m orchestration.cli.config_reference --check  # exit 1 when it is stale
"""

from __future__ import annotations

import argparse
import enum
import inspect
import json
import re
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode

from orchestration.core.settings import Settings

__all__ = ["DOCS_PATH", "Section", "Variable", "main", "render_markdown", "sections"]

DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
REGENERATE = "python -m orchestration.cli.config_reference"
_EN_DASH = "\u2013"  # between the ends of a range

# "... Default: 500 (...)" / "...; unset: no bridge." — what an unset optional setting means.
_UNSET_MEANING = re.compile(r"(?:^|(?<=[.;]))\s*(?:Default|[Uu]nset):\s*(?P<meaning>.+)$", re.S)


@dataclass(frozen=True)
class Variable:
    """One environment variable and the settings field it fills."""

    env_name: str
    path: tuple[str, ...]
    """Attribute path from the settings object, e.g. ``("kafka", "bootstrap_servers")``."""
    field: FieldInfo

    @property
    def annotation(self) -> Any:
        """The field's type without ``None`` and ``Annotated``."""
        return _shape(self.field)[0]

    @property
    def optional(self) -> bool:
        return _shape(self.field)[1]

    @property
    def metadata(self) -> list[Any]:
        """Constraints of the field and of its ``Annotated`` type (``Port | None``)."""
        return _shape(self.field)[2]

    @property
    def comma_separated(self) -> bool:
        """A list read as ``a,b,c`` rather than JSON (``NoDecode``; the model splits it)."""
        return _is_list(self.annotation) and NoDecode in self.metadata

    @property
    def is_secret(self) -> bool:
        return self.annotation in (SecretStr, SecretBytes)

    @property
    def is_json(self) -> bool:
        """The value is a JSON document (a model, dict, or list that is not comma-separated)."""
        if self.comma_separated:
            return False
        annotation = self.annotation
        return _model_class(annotation) is not None or _is_list(annotation) or _is_dict(annotation)


@dataclass(frozen=True)
class Section:
    """The variables of one nested settings model (or the top-level ones)."""

    title: str
    intro: str
    variables: tuple[Variable, ...]


@dataclass(frozen=True)
class _Naming:
    """How pydantic-settings turns a field path into an environment variable name."""

    prefix: str
    delimiter: str
    max_split: int | None
    case_sensitive: bool

    def env_name(self, path: tuple[str, ...]) -> str:
        name = self.prefix + self.delimiter.join(path)
        return name if self.case_sensitive else name.upper()

    def splits_into(self, depth: int) -> bool:
        """Whether a field ``depth`` delimiters deep has a variable of its own."""
        return bool(self.delimiter) and (not self.max_split or depth <= self.max_split)


def sections(model: type[BaseSettings] = Settings) -> list[Section]:
    """Every environment variable of ``model``: the top-level ones first, then one per section."""
    config = model.model_config
    naming = _Naming(
        prefix=config.get("env_prefix", ""),
        delimiter=config.get("env_nested_delimiter") or "",
        max_split=config.get("env_nested_max_split"),
        case_sensitive=bool(config.get("case_sensitive", False)),
    )
    general: list[Variable] = []
    nested: list[Section] = []
    for name, field in model.model_fields.items():
        _refuse_aliases((name,), field)
        sub = _model_class(field.annotation)
        if sub is not None and naming.splits_into(1):
            nested.append(
                Section(
                    title=f"{name.replace('_', ' ').capitalize()}: "
                    f"`{naming.env_name((name,))}{naming.delimiter}*`",
                    intro=_first_paragraph(sub),
                    variables=tuple(_variables(sub, (name,), naming)),
                )
            )
        else:
            general.append(Variable(naming.env_name((name,)), (name,), field))
    intro = "Settings outside any section." if nested else ""
    return [Section("General", intro, tuple(general)), *nested]


def _variables(model: type[BaseModel], parent: tuple[str, ...], naming: _Naming) -> list[Variable]:
    found: list[Variable] = []
    for name, field in model.model_fields.items():
        path = (*parent, name)
        _refuse_aliases(path, field)
        sub = _model_class(field.annotation)
        if sub is not None and naming.splits_into(len(path)):
            found += _variables(sub, path, naming)
        else:
            found.append(Variable(naming.env_name(path), path, field))
    return found


def _refuse_aliases(path: tuple[str, ...], field: FieldInfo) -> None:
    # An alias changes the variable name in ways this generator does not model; fail loudly
    # rather than document a name pydantic-settings would not read.
    if field.alias or field.validation_alias:
        raise TypeError(f"{'.'.join(path)}: aliased settings fields are not supported")


def render_markdown(*, model: type[BaseSettings] = Settings) -> str:
    """The Markdown configuration reference of ``model`` (``docs/configuration.md``)."""
    found = sections(model)
    everything = [v for section in found for v in section.variables]
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated from the settings model by `{REGENERATE}`; do not edit. -->",
        "",
        *_intro(model, found, everything),
    ]
    for section in found:
        if not section.variables:
            continue
        lines += ["", f"## {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        lines += ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
        for variable in section.variables:
            default, description = _default_and_description(variable)
            cells = [f"`{variable.env_name}`", _type_text(variable), default, description]
            lines.append("| " + " | ".join(cells) + " |")
    if model is Settings:
        lines += ["", *TRACES]
    return "\n".join(lines) + "\n"


TRACES = [
    "## Traces: the OpenTelemetry SDK's `OTEL_*`",
    "",
    "Tracing has no `ORCH_` settings: every process reads the OpenTelemetry SDK's standard"
    " variables. It is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or"
    " `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, or `OTEL_TRACES_EXPORTER` names `otlp` or"
    " `console`; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keeps it off. Spans"
    " go over OTLP/HTTP (`http/protobuf`, a collector's port 4318). `OTEL_SERVICE_NAME`"
    " (default: the process, e.g. `orchestration-worker`), `OTEL_RESOURCE_ATTRIBUTES`,"
    " `OTEL_TRACES_SAMPLER`, `OTEL_PROPAGATORS` and `OTEL_BSP_*` mean what the SDK says."
    " Registry heartbeats, `/health` and `/metrics` get no span unless"
    " `OTEL_PYTHON_FASTAPI_EXCLUDED_URLS` / `OTEL_PYTHON_HTTPX_EXCLUDED_URLS` say otherwise."
    " See `orchestration/core/tracing.py` and the README's Traces section.",
]
"""The closing section of the reference: the settings that are not ours."""


def _intro(
    model: type[BaseSettings], found: list[Section], everything: list[Variable]
) -> list[str]:
    config = model.model_config
    prefix = config.get("env_prefix", "")
    env_file = config.get("env_file")
    lines = ["Every setting is read from an environment variable."]
    if isinstance(env_file, str | Path):
        lines[0] += (
            f" A `{env_file}` file in the working directory is read too (`NAME=value` lines);"
            " a variable set in the environment wins over the file."
        )
    if not config.get("case_sensitive", False):
        lines[0] += " Names are case-insensitive; this page writes them in capitals."
    lines.append("")
    general = found[0].variables
    if general:
        v = general[0]
        lines.append(
            f"- **Names.** A top-level setting is `{prefix}` and its name: `{v.path[-1]}` is "
            f"`{v.env_name}`."
        )
    sectioned = [v for v in everything if len(v.path) > 1]
    if sectioned:
        v = next((v for v in sectioned if "_" in v.path[-1]), sectioned[0])
        delimiter = config.get("env_nested_delimiter")
        lines.append(
            f"- **Sections.** A setting in a section adds the section's name: "
            f"`{'.'.join(v.path)}` is `{v.env_name}`. Only the first `{delimiter}` after the "
            "section name separates; the rest keeps its underscores."
        )
    if any(v.comma_separated for v in everything):
        lines.append(
            "- **Lists** marked *comma-separated* take `a,b,c`; blanks around items are dropped."
        )
    lines.append("- **Booleans** (`true/false`) also accept `1`/`0`, `yes`/`no` and `on`/`off`.")
    lines.append(
        "- **Unset** settings have no value until one is given; the Default column says what "
        "happens then."
    )
    json_vars = [v for v in everything if v.is_json]
    if json_vars:
        lines.append(
            f"- **JSON** settings take one JSON document, e.g. `{json_vars[0].env_name}` set to "
            "a JSON object with the keys of its default."
        )
    lines.append(
        "- **Ranges** and other limits in the Type column are checked when the settings load; "
        "a value outside them is an error."
    )
    if any(v.is_secret for v in everything):
        lines.append("- **Secrets** are never shown on this page.")
    return lines


# -- types --------------------------------------------------------------------------------


def _shape(field: FieldInfo) -> tuple[Any, bool, list[Any]]:
    """``(type, optional, constraints)`` of ``field``, looking through ``X | None``."""
    annotation, metadata, optional = field.annotation, list(field.metadata), False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            annotation, optional = args[0], True
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for item in extra:
            metadata += item.metadata if isinstance(item, FieldInfo) else [item]
    return annotation, optional, metadata


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) in (list, tuple, set, frozenset)


def _is_dict(annotation: Any) -> bool:
    return annotation is dict or get_origin(annotation) is dict


def _type_text(variable: Variable) -> str:
    annotation, metadata = variable.annotation, variable.metadata
    if _is_list(annotation):
        (item, *_) = get_args(annotation) or (str,)
        text = f"list of {_plain_type(item)}"
        text += ", comma-separated" if variable.comma_separated else " (JSON)"
        text += _length_limits(metadata, unit="item")
    else:
        text = _plain_type(annotation)
        if annotation in (int, float):
            text += _range(metadata)
        elif annotation is str:
            text += _length_limits(metadata, unit="char")
            pattern = next((p for p in (getattr(m, "pattern", None) for m in metadata) if p), None)
            if pattern:
                text += f" matching `{pattern}`"
    if variable.optional:
        text += ", optional"
    return _escape(text)


def _plain_type(annotation: Any) -> str:
    if annotation is bool:
        return "true/false"
    if annotation in (SecretStr, SecretBytes):
        return "secret"
    if annotation is Path:
        return "path"
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{choice}`" for choice in get_args(annotation))
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    if _model_class(annotation) is not None or _is_dict(annotation):
        return "JSON object"
    return getattr(annotation, "__name__", str(annotation))


def _range(metadata: Sequence[Any]) -> str:
    bounds = {
        kind: getattr(m, kind)
        for m in metadata
        for kind in ("ge", "gt", "le", "lt")
        if isinstance(m, annotated_types.BaseMetadata) and getattr(m, kind, None) is not None
    }
    if "ge" in bounds and "le" in bounds:
        return f" ({bounds['ge']}{_EN_DASH}{bounds['le']})"
    signs = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    parts = [f"{signs[kind]} {bounds[kind]}" for kind in ("gt", "ge", "lt", "le") if kind in bounds]
    return f" ({', '.join(parts)})" if parts else ""


def _length_limits(metadata: Sequence[Any], *, unit: str) -> str:
    low = next((m.min_length for m in metadata if isinstance(m, annotated_types.MinLen)), None)
    high = next((m.max_length for m in metadata if isinstance(m, annotated_types.MaxLen)), None)
    if low and high:
        return f" ({low}{_EN_DASH}{high} {_plural(unit, high)})"
    if low:
        return " (non-empty)" if low == 1 else f" (at least {low} {_plural(unit, low)})"
    if high:
        return f" (at most {high} {_plural(unit, high)})"
    return ""


def _plural(unit: str, count: int) -> str:
    return unit if count == 1 else unit + "s"


# -- defaults and descriptions ------------------------------------------------------------


def _default_and_description(variable: Variable) -> tuple[str, str]:
    field = variable.field
    description = " ".join((field.description or "").split())
    if field.is_required():
        return "required", _escape(description)
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None:
        default = "unset"
        meaning = _UNSET_MEANING.search(description)
        if meaning:
            default += ": " + meaning["meaning"].rstrip(".")
            description = description[: meaning.start()].rstrip(" ;,")
            if description and not description.endswith("."):
                description += "."
        return _escape(default), _escape(description)
    if variable.is_secret:
        return "*(hidden)*", _escape(description)
    text = _env_value(value, comma_separated=variable.comma_separated)
    return (f"`{text}`" if text else "*(empty)*").replace("|", "\\|"), _escape(description)


def _env_value(value: Any, *, comma_separated: bool) -> str:
    """``value`` written the way the environment variable would give it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, list | tuple | set | frozenset):
        if comma_separated:
            return ",".join(_env_value(item, comma_separated=False) for item in value)
        return json.dumps(list(value), default=str)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)


def _escape(text: str) -> str:
    """Text safe in a Markdown table cell (a ``|`` ends the cell, ``<x>`` is read as HTML)."""
    return text.replace("|", "\\|").replace("<", "\\<")


def _first_paragraph(model: type[BaseModel]) -> str:
    doc = inspect.getdoc(model) or ""
    return _escape(" ".join(doc.split("\n\n")[0].split()).replace("``", "`"))


# -- command line -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reference, or with ``--check`` exit 1 when the written one is stale."""
    parser = argparse.ArgumentParser(
        prog=REGENERATE, description="Write the configuration reference from the settings model."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--output", type=Path, default=DOCS_PATH, help="default: %(default)s")
    args = parser.parse_args(argv)
    output: Path = args.output
    expected = render_markdown()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current != expected:
            print(f"{output} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(expected, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
