"""Routing policies that spread load: by order (ROUND_ROBIN), by reported load
(LEAST_LOADED) and by weight (WEIGHTED).

Like every policy they return agent ids taken from the candidates they were given, and an
empty list only when they were given none.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence

from registry.routing.base import load_score
from registry.routing.listcache import REFRESH_EVERY
from registry.routing.types import (
    Candidate,
    RouteRequest,
    RoutingStrategy,
)

__all__ = ["LeastLoadedStrategy", "RoundRobinStrategy", "WeightedStrategy"]


class RoundRobinStrategy:
    """ROUND_ROBIN: take the candidates in turn, with one independent position per rule.

    Each call moves the rule's position by one over the candidates it is given *now*, so over
    any run of calls with the same candidates, the counts of any two agents differ by at most
    one, and a change of candidates keeps the rotation going over the new set. One rule's
    traffic never shifts another rule's rotation. Nothing is cached between calls.
    """

    kind = RoutingStrategy.ROUND_ROBIN

    def __init__(self) -> None:
        self._position: dict[str, int] = {}

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the candidate at the rule's position and advance it."""
        n = len(candidates)
        if n == 0:
            return []
        index = self._position.get(request.rule, 0) % n
        # Store the index, not a call count, so the integer stays small.
        self._position[request.rule] = index + 1
        return [candidates[index].agent_id]

    def forget(self, rule: str) -> None:
        """Drop the rule's position."""
        self._position.pop(rule, None)


class LeastLoadedStrategy:
    """LEAST_LOADED: the power of two choices over :attr:`LoadInfo.load_score`.

    Samples two distinct candidates uniformly with the injected random generator and returns
    the one with the lower load score (the first one sampled on a tie). Picking the global
    minimum would send every message to the same agent until its next load report; two random
    choices spread the work and still never pick the worse of the two. A candidate without a
    load report scores 0 (idle but unknown; see :func:`registry.routing.base.load_score`).
    Stateless apart from the generator, so rules need no separate state.

    Args:
        rng: the random generator; pass a seeded ``random.Random`` for reproducible choices.
    """

    kind = RoutingStrategy.LEAST_LOADED

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._random = (rng if rng is not None else random.Random()).random

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the less loaded of two randomly sampled candidates."""
        n = len(candidates)
        if n <= 1:
            return [candidates[0].agent_id] if n else []
        first = int(self._random() * n)
        second = int(self._random() * (n - 1))
        if second >= first:
            second += 1
        a, b = candidates[first], candidates[second]
        return [b.agent_id if load_score(b) < load_score(a) else a.agent_id]

    def forget(self, rule: str) -> None:
        """Nothing to drop: the policy keeps no per-rule state."""


class _Schedule:
    """One rule's smooth weighted round robin over one set of (agent, effective weight).

    nginx keeps a running value per agent, adds every effective weight on each call and takes
    the largest. Here the value of agent ``i`` after ``t`` calls is ``base[i] + t * w[i]``:
    only the picked agent's ``base`` changes (by ``-total``), so agents of equal weight keep
    their order and sit in one heap per distinct weight. A call compares the heads of the
    heaps, which is O(distinct weights + log candidates) instead of O(candidates), and picks
    exactly what nginx picks (the largest value, the earliest candidate on a tie).
    """

    __slots__ = ("groups", "hits", "ids", "snapshot", "steps", "total", "weights")

    def __init__(
        self,
        candidates: list[Candidate],
        ids: list[str],
        weights: list[float],
        values: dict[str, float],
    ) -> None:
        self.snapshot = list(candidates)
        self.hits = 0
        self.ids = ids
        self.weights = weights
        total = sum(weights, 0.0)
        self.total = total
        self.steps = 0
        heaps: dict[float, list[tuple[float, int, str]]] = {}
        for index, (agent_id, weight) in enumerate(zip(ids, weights, strict=True)):
            heaps.setdefault(weight, []).append((-values.get(agent_id, 0.0), index, agent_id))
        for heap in heaps.values():
            heapq.heapify(heap)
        self.groups = list(heaps.items())

    def values(self) -> dict[str, float]:
        """Every agent's running value, as nginx would hold it now."""
        steps = self.steps
        return {
            agent_id: -negative + steps * weight
            for weight, heap in self.groups
            for negative, _, agent_id in heap
        }

    def next(self) -> str:
        steps = self.steps = self.steps + 1
        if steps >= _RENORMALISE_AFTER:
            self._renormalise()
            steps = self.steps
        best_heap: list[tuple[float, int, str]] = []
        best_value = float("-inf")
        best_index = 0
        for weight, heap in self.groups:
            negative, index, _ = heap[0]
            value = steps * weight - negative
            if value > best_value or (value == best_value and index < best_index):
                best_heap, best_value, best_index = heap, value, index
        negative, index, agent_id = best_heap[0]
        heapq.heapreplace(best_heap, (negative + self.total, index, agent_id))
        return agent_id

    def _renormalise(self) -> None:
        """Fold the call count into the values so the numbers stay small."""
        steps = self.steps
        groups = []
        for weight, heap in self.groups:
            shift = steps * weight
            rebased = [(negative - shift, index, agent_id) for negative, index, agent_id in heap]
            heapq.heapify(rebased)
            groups.append((weight, rebased))
        self.groups = groups
        self.steps = 0


_RENORMALISE_AFTER = 1 << 20


class WeightedStrategy:
    """WEIGHTED: smooth weighted round robin (as in nginx), one schedule per rule.

    The effective weight of a candidate is ``weight * health``, so a degraded agent gets
    proportionally less. Each call adds every candidate's effective weight to its running
    value, picks the largest value (the first in order on a tie) and subtracts the total
    weight from it. Starting from a fresh rule with integer weights and full health, every
    ``sum(weights)`` consecutive calls give each agent exactly its weight in picks, and the
    picks are interleaved rather than bunched. When every effective weight is 0 the candidates
    are weighted equally.

    The schedule is kept per rule together with the candidate list it was built for; while
    the router passes that list (or one with the same agents, weights and health: a load
    report does not matter here) a call costs O(distinct weights + log candidates). When the
    agents or weights change, the running values carry over to the new schedule.
    """

    kind = RoutingStrategy.WEIGHTED

    def __init__(self) -> None:
        self._schedules: dict[str, _Schedule] = {}

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the next agent of the rule's weighted schedule."""
        if not candidates:
            return []
        current = candidates if type(candidates) is list else list(candidates)
        schedule = self._schedules.get(request.rule)
        if schedule is None or schedule.snapshot != current:
            schedule = self._revalidate(schedule, current, request.rule)
        else:
            schedule.hits += 1
            if schedule.hits >= REFRESH_EVERY:
                # Equal but not identical entries keep the comparison slow: retake the copy.
                schedule.hits = 0
                schedule.snapshot = list(current)
        return [schedule.next()]

    def _revalidate(
        self, schedule: _Schedule | None, candidates: list[Candidate], rule: str
    ) -> _Schedule:
        ids = [candidate.agent_id for candidate in candidates]
        weights = [candidate.weight * candidate.health for candidate in candidates]
        if not any(weight > 0.0 for weight in weights):
            weights = [1.0] * len(candidates)
        if schedule is not None and schedule.ids == ids and schedule.weights == weights:
            schedule.snapshot = list(candidates)
            return schedule
        values = schedule.values() if schedule is not None else {}
        schedule = self._schedules[rule] = _Schedule(candidates, ids, weights, values)
        return schedule

    def forget(self, rule: str) -> None:
        """Drop the rule's schedule."""
        self._schedules.pop(rule, None)
