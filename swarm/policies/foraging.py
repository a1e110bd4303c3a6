"""FORAGING: ant-colony scheduling with pheromone trails on (agent, partition class) pairs.

A partition's *class* is its ``key`` (``"default"`` when it has none).

Memory: a pheromone level ``tau(agent, class)`` for every pair seen so far; a pair never seen
has ``INITIAL_PHEROMONE`` (1.0).

``observe(outcome)``:

1. *evaporation*: every recorded trail loses ``pheromone_evaporation_rate`` (rho) of its level,
   ``tau <- (1 - rho) * tau``;
2. *deposit*: the outcome's agent adds its *yield*, ``items / duration_s`` in items/s (the
   items it completed, so 0 for a failure; 0 for a zero duration), to the trails of the classes
   it ran, split by each class's share of the assignment's partitions (``outcome.keys``; all
   ``"default"`` when keys are missing).

So productive pairs build strong trails, a pair that only fails keeps fading, and trails track
recent yield rather than ancient history.

``assign(state, rng)``: every idle, healthy agent, in agent-id order, gets a *fair batch*
(``min(max_batch, ceil(backlog / idle))``) of slots. Each slot is one draw among the classes
that still have a pending partition the agent may run (sorted; not one that failed on it while
another healthy agent has not failed it): with probability ``scout_fraction`` the agent is a
*scout* and picks one of them uniformly at random (exploration); otherwise it picks a class
with probability proportional to its ``tau(agent, class)``. The slot takes that class's lowest
such partition id. All randomness comes from ``rng``.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any, Self

from swarm.policies.common import (
    BasePolicy,
    fair_batch,
    healthy_ids,
    idle_ids,
    may_run,
    partition_class,
)
from swarm.scheduling import (
    Assignment,
    Outcome,
    PartitionView,
    PolicyConfig,
    RoundState,
    SwarmBehavior,
)

__all__ = ["INITIAL_PHEROMONE", "ForagingPolicy"]

INITIAL_PHEROMONE = 1.0
"""The pheromone of an (agent, class) pair before any observation of it."""


_MIN_DURATION_S = 0.001


class ForagingPolicy(BasePolicy):
    """Assign classes in proportion to pheromone, with scouts exploring (module docstring)."""

    behavior = SwarmBehavior.FORAGING

    def __init__(
        self,
        config: PolicyConfig | None = None,
        pheromone: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        super().__init__(config)
        self._trails: dict[str, dict[str, float]] = {
            agent: {cls: float(level) for cls, level in trails.items()}
            for agent, trails in (pheromone or {}).items()
        }

    def pheromone(self, agent_id: str, cls: str) -> float:
        """The pheromone on ``(agent_id, cls)``."""
        return self._trails.get(agent_id, {}).get(cls, INITIAL_PHEROMONE)

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """A fair batch per idle agent, each slot's class drawn by pheromone or by a scout.

        Linear in the window: each class's partitions are listed once, in id order, and a
        class's taken prefix is skipped for good; only a partition an agent may not run is
        looked at again (by the next agents)."""
        idle, healthy = idle_ids(state), healthy_ids(state)
        batch = fair_batch(state.backlog, len(idle), state.config.max_batch)
        by_class: dict[str, list[PartitionView]] = {}
        for partition in sorted(state.pending, key=lambda p: p.partition_id):
            by_class.setdefault(partition_class(partition.key), []).append(partition)
        start = dict.fromkeys(by_class, 0)  # before it, every partition of the class is taken
        taken_all: set[int] = set()
        assignments: list[Assignment] = []
        for agent in idle:
            cursor = dict(start)

            def head(cls: str, agent: str = agent, cursor: dict[str, int] = cursor) -> bool:
                """Move the class's cursor to the agent's next runnable partition."""
                listed, at = by_class[cls], cursor[cls]
                while at < len(listed) and (
                    listed[at].partition_id in taken_all or not may_run(listed[at], agent, healthy)
                ):
                    at += 1
                cursor[cls] = at
                return at < len(listed)

            available = [cls for cls in sorted(by_class) if head(cls)]
            taken: list[int] = []
            while len(taken) < batch and available:
                cls = self._draw(agent, available, rng, state.config.scout_fraction)
                pid = by_class[cls][cursor[cls]].partition_id
                taken.append(pid)
                taken_all.add(pid)
                if not head(cls):
                    available.remove(cls)
            if taken:
                assignments.append(Assignment(agent, tuple(sorted(taken))))
            for cls, listed in by_class.items():
                at = start[cls]
                while at < len(listed) and listed[at].partition_id in taken_all:
                    at += 1
                start[cls] = at
        return assignments

    def observe(self, outcome: Outcome) -> None:
        """Evaporate every trail, then deposit the outcome's yield on its classes."""
        keep = 1.0 - self.config.pheromone_evaporation_rate
        for trails in self._trails.values():
            for cls in trails:
                trails[cls] *= keep
        count = len(outcome.partition_ids)
        if count == 0:
            return
        # Yield in items/s; a duration under a millisecond counts as one, so a deposit stays
        # finite (and comparable) however fast an assignment reported itself.
        rate = outcome.items / max(outcome.duration_s, _MIN_DURATION_S) if outcome.items else 0.0
        keys = outcome.keys if len(outcome.keys) == count else (None,) * count
        shares = Counter(partition_class(key) for key in keys)
        trails = self._trails.setdefault(outcome.agent_id, {})
        for cls in sorted(shares):
            trails[cls] = trails.get(cls, INITIAL_PHEROMONE) + rate * shares[cls] / count

    def _draw(
        self, agent: str, classes: list[str], rng: random.Random, scout_fraction: float
    ) -> str:
        if rng.random() < scout_fraction:
            return classes[rng.randrange(len(classes))]
        weights = [self.pheromone(agent, cls) for cls in classes]
        total = sum(weights)
        if not math.isfinite(total):  # trails beyond float range: follow the strongest
            return classes[max(range(len(classes)), key=lambda i: (weights[i], -i))]
        if total <= 0:
            return classes[rng.randrange(len(classes))]
        return rng.choices(classes, weights=weights)[0]

    def _memory(self) -> dict[str, Any]:
        return {
            "pheromone": {
                agent: dict(sorted(trails.items()))
                for agent, trails in sorted(self._trails.items())
            }
        }

    @classmethod
    def _load(cls, memory: Mapping[str, Any], config: PolicyConfig) -> Self:
        pheromone = memory.get("pheromone", {})
        if not isinstance(pheromone, Mapping) or not all(
            isinstance(trails, Mapping) for trails in pheromone.values()
        ):
            raise ValueError("foraging memory: 'pheromone' must map agent -> class -> level")
        return cls(config, pheromone)
