"""FORAGING: ant-colony scheduling with pheromone trails on (agent, partition class) pairs.

The workload it exists for: agents whose yield differs by partition class (one agent has the
sector's model cached, another does not). A partition's *class* is its ``key``
(``"default"`` when it has none).

Memory: a pheromone level ``tau(agent, class)`` for every pair seen so far, and each agent's
last *surprise* (below). A pair never
seen has the *median* level the other agents have on that class (what the pool knows of it),
or the median of the agent's own trails, or ``INITIAL_PHEROMONE`` (1.0) when nothing is known.

``observe(outcome)``:

1. *evaporation*: every recorded trail loses ``pheromone_evaporation_rate`` (rho) of its level,
   ``tau <- (1 - rho) * tau``;
2. *deposit*: for each class the assignment ran, its *yield* in items/s: the items completed
   (0 for a failure) over the time its partitions took (``outcome.durations_s``, the agent's
   own per-partition times; the assignment's time split evenly when they are missing). The
   trail moves ``LEARNING`` (half) of the way to it (a pair's first yield sets it).

So trails track each pair's recent yield, and a pair that only fails keeps fading.

``assign(state, rng)``: every idle, healthy agent, in agent-id order, among the classes that
still have a pending partition it may run (not one that failed on it while another healthy
agent has not failed it), with the round's *fair batch* ``b = min(max_batch, ceil(backlog /
idle))``:

1. *scouting*: an agent without trails takes one partition of each of ``PROBE_CLASSES``
   (5) classes drawn at random: one assignment measures several classes;
2. otherwise it draws a class (with probability ``scout_fraction`` uniformly, else with
   probability proportional to ``tau ** PHEROMONE_EXPONENT``), and takes that class's lowest
   partition ids, as many as ``ceil(b x min(tau / best, speed, surprise))`` (at least 1, at
   most ``b``): ``best`` is the strongest trail any agent has on the class, ``speed`` the
   agent's throughput over the pool's median (1 while unknown), and ``surprise`` its last
   outcome's yield over what its trails expected for those classes (the smallest ratio; 1
   when they had no trail). Each ratio counts only below ``FULL_SHARE`` (0.75), so noise
   between equal agents does not shrink batches. An agent slow at a class, slow overall, or
   slower than it was a moment ago takes less, and the pool is not left waiting on its last
   batch. If the class runs out first, it draws again for the rest, and the assignment never
   grows past the first draw's size.

All randomness comes from ``rng``. *Revision 1* (swarms started before these rules): unseen
pairs have ``INITIAL_PHEROMONE``, a deposit adds the assignment's yield split by class share,
draws are proportional to ``tau``, and every slot of a fair batch is a draw of its own.
"""

from __future__ import annotations

import math
import random
import statistics
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
    yield_batches,
)
from swarm.scheduling import (
    RULES,
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

LEARNING = 0.5
"""How far a deposit moves a trail toward the yield just seen."""

PHEROMONE_EXPONENT = 4.0
"""A class is drawn with probability proportional to its pheromone to this power."""

FULL_SHARE = 0.75
"""An agent at least this fast, relative to the best at a class (or the pool's median),
takes a full batch of it: noise between equal agents does not shrink batches."""

PROBE_CLASSES = 5
"""A new agent's first assignment: one partition of each of this many classes (at most)."""


_MIN_DURATION_S = 0.001


class ForagingPolicy(BasePolicy):
    """Assign classes in proportion to pheromone, with scouts exploring (module docstring)."""

    behavior = SwarmBehavior.FORAGING

    def __init__(
        self,
        config: PolicyConfig | None = None,
        pheromone: Mapping[str, Mapping[str, float]] | None = None,
        *,
        revision: int = RULES,
        surprise: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(config)
        self._trails: dict[str, dict[str, float]] = {
            agent: {cls: float(level) for cls, level in trails.items()}
            for agent, trails in (pheromone or {}).items()
        }
        self._surprise = {a: float(v) for a, v in sorted((surprise or {}).items())}
        self._revision = revision  # the rules of the last round seen (observe has no state)
        # pheromone() of untried pairs takes a median over the pool: computed once per pair
        # until the trails or the rules change (observe, assign).
        self._levels: dict[tuple[str, str], float] = {}

    def pheromone(self, agent_id: str, cls: str) -> float:
        """The pheromone on ``(agent_id, cls)``: an untried pair has the median level the
        other agents have on the class (revision 1: ``INITIAL_PHEROMONE``)."""
        level = self._levels.get((agent_id, cls))
        if level is None:
            level = self._levels[(agent_id, cls)] = self._level(agent_id, cls)
        return level

    def _level(self, agent_id: str, cls: str) -> float:
        trails = self._trails.get(agent_id, {})
        if cls in trails:
            return trails[cls]
        if self._revision < 2:
            return INITIAL_PHEROMONE
        others = sorted(t[cls] for a, t in self._trails.items() if cls in t and a != agent_id)
        known = others or sorted(trails.values())
        return float(statistics.median(known)) if known else INITIAL_PHEROMONE

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """A fair batch per idle agent, each slot's class drawn by pheromone or by a scout.

        Linear in the window: each class's partitions are listed once, in id order, and a
        class's taken prefix is skipped for good; only a partition an agent may not run is
        looked at again (by the next agents)."""
        if state.revision != self._revision:
            self._levels.clear()
        self._revision = state.revision
        idle, healthy = idle_ids(state), healthy_ids(state)
        fair = fair_batch(state.backlog, len(idle), state.config.max_batch)
        scaled = yield_batches(state, idle, fair)
        best: dict[str, float] = {}
        for trails in self._trails.values():
            for cls, level in trails.items():
                best[cls] = max(best.get(cls, 0.0), level)
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
            one_class = state.revision >= 2
            batch = fair
            if one_class and len(available) > 1 and not self._trails.get(agent):  # scouting
                scouted = min(batch, PROBE_CLASSES, len(available))
                for cls in sorted(rng.sample(available, scouted)):
                    pid = by_class[cls][cursor[cls]].partition_id
                    taken.append(pid)
                    taken_all.add(pid)
                    if not head(cls):
                        available.remove(cls)
                available = []
            while len(taken) < batch and available:
                cls = self._draw(agent, available, rng, state.config.scout_fraction)
                if one_class:  # an agent slower than the best at a class takes less of it
                    share = self.pheromone(agent, cls) / best[cls] if best.get(cls) else 1.0
                    size = min(fair * (share if share < FULL_SHARE else 1.0), scaled[agent])
                    slower = self._surprise.get(agent, 1.0)  # than its trails said, just now
                    if slower < FULL_SHARE:
                        size = min(size, fair * slower)
                    batch = min(batch, len(taken) + max(1, math.ceil(size)))  # never grows
                while len(taken) < batch:
                    pid = by_class[cls][cursor[cls]].partition_id
                    taken.append(pid)
                    taken_all.add(pid)
                    if not head(cls):
                        available.remove(cls)
                        break
                    if not one_class:
                        break
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
        self._levels.clear()
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
        if self._revision < 2:
            for cls in sorted(shares):
                trails[cls] = trails.get(cls, INITIAL_PHEROMONE) + rate * shares[cls] / count
            return
        busy: dict[str, float] = {}
        for index, key in enumerate(keys):
            if len(outcome.durations_s) == count:
                took = outcome.durations_s[index]
            else:
                took = outcome.duration_s / count
            busy[partition_class(key)] = busy.get(partition_class(key), 0.0) + took
        per_partition = outcome.items / count
        surprise = 1.0
        for cls in sorted(shares):
            seen = per_partition * shares[cls] / max(busy[cls], _MIN_DURATION_S)
            level = trails.get(cls, seen)
            if level > 0:
                surprise = min(surprise, seen / level)
            trails[cls] = level + LEARNING * (seen - level)
        self._surprise[outcome.agent_id] = surprise

    def _draw(
        self, agent: str, classes: list[str], rng: random.Random, scout_fraction: float
    ) -> str:
        if rng.random() < scout_fraction:
            return classes[rng.randrange(len(classes))]
        power = PHEROMONE_EXPONENT if self._revision >= 2 else 1.0
        weights = [self.pheromone(agent, cls) ** power for cls in classes]
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
            },
            "surprise": dict(self._surprise),
        }

    @classmethod
    def _load(cls, memory: Mapping[str, Any], config: PolicyConfig) -> Self:
        pheromone = memory.get("pheromone", {})
        if not isinstance(pheromone, Mapping) or not all(
            isinstance(trails, Mapping) for trails in pheromone.values()
        ):
            raise ValueError("foraging memory: 'pheromone' must map agent -> class -> level")
        surprise = memory.get("surprise", {})
        if not isinstance(surprise, Mapping):
            raise ValueError("foraging memory: 'surprise' must map agent -> ratio")
        return cls(config, pheromone, surprise=surprise)
