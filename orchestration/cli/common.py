"""What every command shares: the consoles, one-line errors and exit codes, settings, logging."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import pydantic
import typer
from rich.console import Console

from orchestration.core import logs
from orchestration.core.exceptions import ConfigurationError, OrchestrationError
from orchestration.core.settings import Settings, get_settings

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "err",
    "fail",
    "load_settings",
    "out",
    "run_async",
    "setup_logging",
]

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment, or a one-line error per bad variable."""
    try:
        return get_settings()
    except pydantic.ValidationError as exc:
        for problem in exc.errors():
            path = "_".join(str(p) for p in problem["loc"]).upper()
            err.print(f"[bold red]error:[/] ORCH_{path}: {problem['msg']}", soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from None


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine, turning library errors into one-line messages."""
    try:
        return asyncio.run(factory())
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except ConfigurationError as exc:
        fail(str(exc), EXIT_CONFIG)
    except OrchestrationError as exc:
        fail(str(exc))


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logs.install()
