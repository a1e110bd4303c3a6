"""What ``saga resolve`` and ``pipeline resolve`` share: the one action chosen by flags, and
the ``--data-file``; each refuses bad usage with a one-line error (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestration.cli.common import EXIT_CONFIG, fail, read_json_file
from orchestration.core.exceptions import OrchestrationError
from workflows.operations_models import ResolveAction

__all__ = ["chosen_action", "resolution_data"]


def chosen_action(flags: dict[ResolveAction, bool]) -> ResolveAction:
    """The one action whose flag is set, or exit 2 naming the flags."""
    chosen = [action for action, flag in flags.items() if flag]
    if len(chosen) != 1:
        names = [f"--{action.value.replace('_', '-')}" for action in flags]
        listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
        fail(f"choose one of {listed}", EXIT_CONFIG)
    return chosen[0]


def resolution_data(path: Path | None) -> Any:
    """The JSON of ``--data-file`` (None without one), or exit 2 saying what is wrong."""
    if path is None:
        return None
    try:
        return read_json_file(path)
    except OrchestrationError as exc:
        fail(str(exc), EXIT_CONFIG)
