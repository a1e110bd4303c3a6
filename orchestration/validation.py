"""One way to turn a pydantic ``ValidationError`` into ours: every problem, naming its field."""

from __future__ import annotations

import pydantic

from orchestration.exceptions import ValidationError

__all__ = ["describe", "field_problems", "validation_error"]


def field_problems(exc: pydantic.ValidationError, root: str = "value") -> list[dict[str, str]]:
    """``[{"field": "steps.0.name", "problem": "..."}]`` for every error (``root`` when the
    error is about the whole value)."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or root, "problem": e["msg"]}
        for e in exc.errors()
    ]


def describe(exc: pydantic.ValidationError, root: str = "value") -> str:
    """``field: problem; field: problem`` for every error."""
    return "; ".join(f"{p['field']}: {p['problem']}" for p in field_problems(exc, root))


def validation_error(
    what: str, exc: pydantic.ValidationError, root: str = "value"
) -> ValidationError:
    """``invalid <what>: field: problem; ...`` with the problems in ``errors``."""
    return ValidationError(
        f"invalid {what}: {describe(exc, root)}", errors=field_problems(exc, root)
    )
