"""CPU accounting for benchmarks: what each process spent during each phase (Linux /proc).

Printed next to the results so a figure comes with what bounded it (which process was busy,
and how many of the machine's cores).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuMeter", "cpu_seconds", "settle"]


def cpu_seconds(pid: int | str) -> float | None:
    """User + system CPU seconds of a process (``"self"`` for this one); None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settle(pid: int, *, busy_below: float = 0.1, timeout_s: float = 120.0) -> float:
    """Wait until process ``pid`` uses less than ``busy_below`` of a core over half a second
    (its background work after a phase is done); the seconds waited. Gives up after
    ``timeout_s`` (returns then too: the next phase is measured on a busy process)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        after = cpu_seconds(pid)
        if before is None or after is None or (after - before) / 0.5 < busy_below:
            break
    return time.monotonic() - started


@dataclass
class CpuMeter:
    """CPU seconds each named process spent during each phase, with wall time and runs."""

    pids: dict[str, int | str]
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)

    @contextlib.contextmanager
    def measure(self, phase: str, runs: int = 0) -> Iterator[None]:
        """Account the block to ``phase``; ``runs`` lets the summary show CPU per run."""
        before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        start = time.perf_counter()
        try:
            yield
        finally:
            self.wall[phase] = self.wall.get(phase, 0.0) + time.perf_counter() - start
            self.runs[phase] = self.runs.get(phase, 0) + runs
            spent = self.cpu.setdefault(phase, {})
            for name, pid in self.pids.items():
                now, then = cpu_seconds(pid), before[name]
                if now is not None and then is not None:
                    spent[name] = spent.get(name, 0.0) + now - then

    def summary(self) -> list[str]:
        """One line per phase: CPU per process (ms per run when runs were given, else
        seconds) and how many cores were busy."""
        lines = []
        for phase, spent in self.cpu.items():
            wall, runs = self.wall[phase] or math.nan, self.runs[phase]
            if runs:
                head = f"{phase}: {runs} runs in {wall:.1f} s; CPU ms per run: "
                parts = [f"{name} {1000 * seconds / runs:.1f}" for name, seconds in spent.items()]
            else:
                head = f"{phase}: {wall:.1f} s wall; CPU s: "
                parts = [f"{name} {seconds:.1f}" for name, seconds in spent.items()]
            busy = sum(spent.values()) / wall
            lines.append(f"{head}{', '.join(parts)}; cores busy {busy:.2f} of {os.cpu_count()}")
        return lines
