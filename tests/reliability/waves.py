"""Kills paced with the work: runs start in waves, and each wave gets one kill mid-run.

Starting every run at once and killing at random moments lets the work finish before the
kills do once the suite is scaled up (``make chaos``); a kill per wave keeps the ratio of
kills to runs, and each kill lands at a random moment while its wave is running.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Waves", "run_in_waves"]


@dataclass
class Waves:
    outcomes: list[Any] = field(default_factory=list)
    """Each run's result or exception, in start order."""
    kills: int = 0
    mid_run: int = 0
    """Kills that landed while some run of their wave was still going."""


async def run_in_waves(
    runs: int,
    per_wave: int,
    start: Callable[[int], Awaitable[Any]],
    kill: Callable[[], Awaitable[None]],
    *,
    rng: random.Random,
    kill_within_s: tuple[float, float],
    wave_timeout_s: float = 300.0,
) -> Waves:
    """Run ``start(n)`` for every n in waves of ``per_wave``, calling ``kill()`` once per wave
    after a random delay drawn from ``kill_within_s``."""
    waves = Waves()
    for first in range(0, runs, per_wave):
        tasks = [asyncio.ensure_future(start(n)) for n in range(first, min(runs, first + per_wave))]
        await asyncio.sleep(rng.uniform(*kill_within_s))
        waves.mid_run += not all(task.done() for task in tasks)
        await kill()
        waves.kills += 1
        waves.outcomes += await asyncio.wait_for(
            asyncio.gather(*tasks, return_exceptions=True), wave_timeout_s
        )
    return waves
