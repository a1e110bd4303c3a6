"""What every command shares: the consoles, one-line errors and exit codes, settings, logging."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pydantic
import typer
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from orchestration.core import logs, tracing
from orchestration.core.exceptions import (
    ConfigurationError,
    OrchestrationError,
    StackError,
    ValidationError,
)
from orchestration.core.settings import Settings, get_settings

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "Column",
    "err",
    "fail",
    "fitted_table",
    "load_settings",
    "options",
    "out",
    "read_json_file",
    "run_async",
    "setup_logging",
]

GUTTER = 3
"""Characters between two columns of :func:`fitted_table`."""

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def read_json_file(path: Path) -> Any:
    """The JSON document in ``path``.

    Raises:
        ConfigurationError: the file cannot be read, or it is not JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{str(path)!r} is not valid JSON: {exc}") from None


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
    except (ConfigurationError, ValidationError) as exc:  # usage, a refused request: exit 2
        fail(_with_detail(exc), EXIT_CONFIG)
    except OrchestrationError as exc:
        fail(_with_detail(exc))


class _Options:
    verbose = False
    """``orchestration --verbose``: errors also show what the library underneath said."""


options = _Options()


def _with_detail(error: OrchestrationError) -> str:
    detail = error.detail if isinstance(error, StackError) else None
    if options.verbose and detail:
        return f"{error}\n  detail: {detail}"
    return str(error)


def setup_logging(settings: Settings, service: str = tracing.DEFAULT_SERVICE) -> None:
    """Logs as ``ORCH_LOG_LEVEL`` and ``ORCH_LOG_FORMAT`` say, and tracing as the ``OTEL_*``
    settings do, for the process ``service`` names (``orchestration-worker``, ...)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logs.formatter(settings.log_format))
    handler.addFilter(logs.TraceContext())
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    logs.install(settings.log_level)
    try:
        tracing.setup(service)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_CONFIG)
    if logging.getLevelName(settings.log_level) == logging.INFO:
        # aiokafka tells of every group join and partition assignment at INFO (one line
        # listing every partition of an agent's inbox): warnings and up say what matters.
        logging.getLogger("aiokafka").setLevel(logging.WARNING)


@dataclass
class Column:
    """One column of :func:`fitted_table`.

    Attributes:
        header: its heading.
        cells: its values, one per row (rich markup allowed).
        wraps: ids and text fold onto more lines when the column is narrowed (never cut);
            False keeps every value on one line, whole (states, times, numbers).
        drop: 0 for a column that is always shown; else it is left out when the table does
            not fit unfolded, the highest ``drop`` first.
        floor: the narrowest a wrapping column is made.
        right: right-justified (numbers).
    """

    header: str
    cells: list[str]
    wraps: bool = True
    drop: int = 0
    floor: int = 8
    right: bool = False

    @property
    def natural(self) -> int:
        return max([len(self.header), *(Text.from_markup(c).cell_len for c in self.cells)])

    @property
    def narrowest(self) -> int:
        return min(self.floor, self.natural) if self.wraps else self.natural


def fitted_table(
    title: str | None, columns: list[Column], width: int, *, show_header: bool = True
) -> Group:
    """A table no wider than ``width`` (80 for a default or piped terminal) that cuts nothing.

    Droppable columns are left out (the highest ``drop`` first) while the others would have
    to fold for them (droppable wrapping columns counted at their floor); then whole columns
    keep their widest value and wrapping ones share what is left, each at least its
    ``floor``, their values folding onto more lines. The title goes
    above it, wrapped at ``width``; a rule under the header, no boxes.
    """
    shown = list(columns)
    while _total(shown, _wanted) > width and any(c.drop for c in shown):
        shown.remove(max((c for c in shown if c.drop), key=lambda c: c.drop))
    widths = _widths(shown, width)
    grid = Table(box=box.SIMPLE_HEAD, show_header=show_header, show_edge=False, pad_edge=False)
    for column, fitted in zip(shown, widths, strict=True):
        grid.add_column(
            column.header,
            justify="right" if column.right else "left",
            overflow="fold",
            no_wrap=not column.wraps,
            min_width=fitted,
            max_width=fitted,
        )
    for row in zip(*(c.cells for c in shown), strict=True):
        grid.add_row(*row)
    return Group(Text.from_markup(title), grid) if title else Group(grid)


def _wanted(column: Column) -> int:
    """What a column needs before droppable ones are kept: a kept column whole, a droppable
    one at its narrowest."""
    return column.narrowest if column.drop else column.natural


def _total(columns: list[Column], width_of: Callable[[Column], int]) -> int:
    return sum(width_of(c) for c in columns) + GUTTER * (len(columns) - 1)


def _widths(columns: list[Column], width: int) -> list[int]:
    """Whole columns at their natural width; wrapping ones at theirs when everything fits,
    else each at its floor plus an even share of what is left, the narrowest needs met first
    (so a short name is not folded to give a long id one more character)."""
    widths = [c.natural for c in columns]
    if _total(columns, lambda c: c.natural) <= width:
        return widths
    wrapping = sorted(
        (n for n, c in enumerate(columns) if c.wraps),
        key=lambda n: columns[n].natural - columns[n].narrowest,
    )
    for n in wrapping:
        widths[n] = columns[n].narrowest
    left = width - GUTTER * (len(columns) - 1) - sum(widths)
    for done, n in enumerate(wrapping):
        share = max(left, 0) // (len(wrapping) - done)
        extra = min(columns[n].natural - widths[n], share)
        widths[n] += extra
        left -= extra
    return widths
