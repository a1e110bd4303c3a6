"""docs/configuration.md is generated from the settings model and names real variables."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
import pydantic
import pytest
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from orchestration.cli.config_reference import (
    DOCS_PATH,
    REGENERATE,
    Variable,
    main,
    render_markdown,
    sections,
)
from orchestration.core.retry import RetrySpec
from orchestration.core.settings import Settings

VARIABLES = [variable for section in sections() for variable in section.variables]

# Values a generic sample cannot satisfy (validators, JSON documents).
SAMPLES: dict[tuple[str, ...], tuple[str, Any]] = {
    ("database", "url"): (
        "postgresql+asyncpg://orch@db:5432/orch",
        "postgresql+asyncpg://orch@db:5432/orch",
    ),
    ("registry", "url"): ("http://registry.example:8000", "http://registry.example:8000"),
    ("s3_endpoint_url",): ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ("saga", "compensation_retry"): ('{"maximum_attempts": 7}', RetrySpec(maximum_attempts=7)),
}
# The model accepts only the default here, so the Settings() check expects a rejection.
FIXED = {("saga", "enable_persistence"), ("saga", "enable_event_sourcing")}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ORCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_committed_reference_is_up_to_date() -> None:
    committed = DOCS_PATH.read_text(encoding="utf-8") if DOCS_PATH.exists() else ""
    assert committed == render_markdown(), f"docs/configuration.md is stale: run `{REGENERATE}`"


def _field_paths(model: type[BaseModel]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            paths += [(name, sub) for sub in section.model_fields]
        else:
            paths.append((name,))
    return paths


def test_every_settings_field_has_a_row() -> None:
    markdown = render_markdown()
    missing = [
        path
        for path in _field_paths(Settings)
        if f"| `ORCH_{'_'.join(path).upper()}` |" not in markdown
    ]
    assert not missing
    assert sorted(v.path for v in VARIABLES) == sorted(_field_paths(Settings))


def test_variable_names_are_unique() -> None:
    names = [v.env_name for v in VARIABLES]
    assert len(names) == len(set(names))


def _row(markdown: str, env_name: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| `{env_name}` |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_secrets_never_show_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    class Api(BaseModel):
        token: SecretStr | None = SecretStr("s3cret-token")
        plain_default: SecretStr = Field(default="plain-s3cret")  # type: ignore[assignment]

    class Demo(BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix="DEMO_", env_nested_delimiter="_", env_nested_max_split=1
        )
        password: SecretStr = SecretStr("hunter2")
        api: Api = Field(default_factory=Api)

    demo = render_markdown(model=Demo)
    assert "hunter2" not in demo and "s3cret" not in demo
    assert _row(demo, "DEMO_PASSWORD")[1:3] == ["secret", "*(hidden)*"]
    assert _row(demo, "DEMO_API_TOKEN")[1:3] == ["secret, optional", "*(hidden)*"]

    monkeypatch.setenv("ORCH_REGISTRY_TOKEN", "from-the-environment")
    markdown = render_markdown()
    assert "from-the-environment" not in markdown
    secrets = [v for v in VARIABLES if v.is_secret]
    assert secrets
    for variable in secrets:
        assert _row(markdown, variable.env_name)[2] in {"unset", "*(hidden)*"}


def test_rows_show_types_constraints_and_defaults() -> None:
    markdown = render_markdown()
    assert _row(markdown, "ORCH_KAFKA_BOOTSTRAP_SERVERS")[1:3] == [
        "list of str, comma-separated (non-empty)",
        "`localhost:9092`",
    ]
    assert _row(markdown, "ORCH_METRICS_PORT")[1:3] == ["int (1\u201365535)", "`8080`"]
    assert _row(markdown, "ORCH_TEMPORAL_EMBEDDED")[1] == "true/false, optional"
    assert _row(markdown, "ORCH_STATE_DIR")[2] == "`.orchestration`"
    assert _row(markdown, "ORCH_BRIDGE_CONFIG")[1:] == [
        "path, optional",
        "unset: no bridge",
        "YAML or JSON file of bridge routes (see bus/bridge_config.py).",
    ]


def test_check_reports_a_stale_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "configuration.md"
    output.write_text("old\n", encoding="utf-8")
    assert main(["--check", "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and REGENERATE in err

    assert main(["--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == render_markdown()
    assert main(["--check", "--output", str(output)]) == 0


# -- the variable names are the ones pydantic-settings reads ------------------------------


def _bounds(variable: Variable) -> tuple[Any, Any]:
    """The inclusive ends of a number's range (None: open)."""
    step = 1 if variable.annotation is int else 0.001
    low: Any = None
    high: Any = None
    for m in variable.metadata:
        if isinstance(m, annotated_types.Ge):
            low = m.ge
        elif isinstance(m, annotated_types.Gt):
            low = m.gt + step  # type: ignore[operator]
        elif isinstance(m, annotated_types.Le):
            high = m.le
        elif isinstance(m, annotated_types.Lt):
            high = m.lt - step  # type: ignore[operator]
    return low, high


def _number(variable: Variable, default: Any) -> float:
    low, high = _bounds(variable)
    step = 1 if variable.annotation is int else 0.5
    base = default if default is not None else (low if low is not None else 1)
    for candidate in (base + step, base - step, low, high):
        if candidate is None or candidate == default:
            continue
        if (low is None or candidate >= low) and (high is None or candidate <= high):
            return candidate
    raise AssertionError(f"no sample value for {variable.env_name}")


def _sample(variable: Variable) -> tuple[str, Any]:
    """An environment value for ``variable`` that differs from the default, and its reading."""
    if variable.path in SAMPLES:
        return SAMPLES[variable.path]
    annotation = variable.annotation
    default = variable.field.get_default(call_default_factory=True, validated_data={})
    if annotation is bool:
        return ("false", False) if default else ("true", True)
    if annotation in (int, float):
        value = _number(variable, default)
        return str(value), value
    if get_origin(annotation) is Literal:
        choice = next(c for c in get_args(annotation) if c != default)
        return str(choice), choice
    if variable.comma_separated:
        return "sample-a, sample-b", ["sample-a", "sample-b"]
    if annotation is Path:
        return "sample/dir", Path("sample/dir")
    if annotation in (str, SecretStr):
        return "sample-value", "sample-value"
    raise AssertionError(f"add a sample value for {variable.env_name} to SAMPLES")


def _read_from_environment(path: tuple[str, ...]) -> Any:
    """What pydantic-settings' own environment source puts at ``path`` (None: nothing)."""
    values: Any = EnvSettingsSource(Settings)()
    for key in path:
        values = values.get(key) if isinstance(values, dict) else None
    return values


@pytest.mark.parametrize("variable", VARIABLES, ids=[v.env_name for v in VARIABLES])
def test_each_variable_sets_its_field(variable: Variable, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, expected = _sample(variable)
    monkeypatch.setenv(variable.env_name, raw)

    assert _read_from_environment(variable.path) is not None, (
        f"pydantic-settings does not read {variable.env_name} into {'.'.join(variable.path)}"
    )

    if variable.path in FIXED:
        with pytest.raises(pydantic.ValidationError) as caught:
            Settings()
        assert caught.value.errors()[0]["loc"][0] == variable.path[0]
        return
    value = _nested_attr(Settings(), variable.path)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    assert value == expected


def _nested_attr(settings: Settings, path: tuple[str, ...]) -> Any:
    return functools.reduce(getattr, path, settings)
