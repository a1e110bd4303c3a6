"""Routing policies that look at order, load, weight and health.

The hash-based policies (AFFINITY, CONSISTENT_HASH) live in :mod:`registry.routing.hashing`.
Every policy returns agent ids taken from the candidates it was given, and an empty list only
when it was given none.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from registry.routing.base import load_score
from registry.routing.types import (
    Candidate,
    Priority,
    RouteRequest,
    RoutingStrategy,
    _rejected,
)

__all__ = [
    "BroadcastStrategy",
    "ContentBasedStrategy",
    "FailoverStrategy",
    "LeastLoadedStrategy",
    "PriorityStrategy",
    "RoundRobinStrategy",
    "WeightedStrategy",
]


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


class WeightedStrategy:
    """WEIGHTED: smooth weighted round robin (as in nginx), one schedule per rule.

    The effective weight of a candidate is ``weight * health``, so a degraded agent gets
    proportionally less. Each call adds every candidate's effective weight to its running
    value, picks the largest value (the first in order on a tie) and subtracts the total
    weight from it. Starting from a fresh rule with integer weights and full health, every
    ``sum(weights)`` consecutive calls give each agent exactly its weight in picks, and the
    picks are interleaved rather than bunched. When every effective weight is 0 the candidates
    are weighted equally.
    """

    kind = RoutingStrategy.WEIGHTED

    def __init__(self) -> None:
        self._current: dict[str, dict[str, float]] = {}

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the next agent of the rule's weighted schedule."""
        n = len(candidates)
        if n == 0:
            return []
        current = self._current.get(request.rule)
        if current is None:
            current = self._current[request.rule] = {}
        total = 0.0
        for candidate in candidates:
            total += candidate.weight * candidate.health
        equal = total <= 0.0
        if equal:
            total = float(n)
        best = ""
        best_value = float("-inf")
        for candidate in candidates:
            agent_id = candidate.agent_id
            value = current.get(agent_id, 0.0) + (
                1.0 if equal else candidate.weight * candidate.health
            )
            current[agent_id] = value
            if value > best_value:
                best, best_value = agent_id, value
        current[best] = best_value - total
        if len(current) > n:
            # An agent left the rule: drop its running value so state stays bounded.
            self._current[request.rule] = {c.agent_id: current[c.agent_id] for c in candidates}
        return [best]

    def forget(self, rule: str) -> None:
        """Drop the rule's schedule."""
        self._current.pop(rule, None)


class ContentBasedStrategy:
    """CONTENT_BASED: the first candidate.

    The router chooses the *rule* by the message's content (its condition matched), so the
    content decision is already made; within the rule the targets are listed in order of
    preference and the first one gets the message.
    """

    kind = RoutingStrategy.CONTENT_BASED

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the first candidate."""
        return [candidates[0].agent_id] if candidates else []

    def forget(self, rule: str) -> None:
        """Nothing to drop: the policy is stateless."""


class PriorityStrategy:
    """PRIORITY: the message's priority decides what "best agent" means.

    - CRITICAL and HIGH go to the healthiest candidate; ties go to the lower load score, then
      to the earlier candidate.
    - NORMAL goes to a least-loaded candidate, chosen as :class:`LeastLoadedStrategy` does
      (two random choices), so normal traffic does not pile onto one agent.
    - LOW goes to the candidate with the most spare capacity (``capacity - queue``); ties go
      to the lower load score, then to the earlier candidate. A candidate without a load
      report counts as having no spare capacity, so low-priority work soaks up capacity that
      is known to be free.

    Args:
        rng: the random generator of the NORMAL choice.
    """

    kind = RoutingStrategy.PRIORITY

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._least_loaded = LeastLoadedStrategy(rng=rng)

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the best candidate for the request's priority."""
        if not candidates:
            return []
        priority = request.priority
        if priority == Priority.NORMAL:
            return self._least_loaded.select(candidates, request)
        best = candidates[0]
        if priority < Priority.NORMAL:
            best_key = (best.health, -load_score(best))
            for candidate in candidates[1:]:
                key = (candidate.health, -load_score(candidate))
                if key > best_key:
                    best, best_key = candidate, key
        else:
            best_key = (_spare_capacity(best), -load_score(best))
            for candidate in candidates[1:]:
                key = (_spare_capacity(candidate), -load_score(candidate))
                if key > best_key:
                    best, best_key = candidate, key
        return [best.agent_id]

    def forget(self, rule: str) -> None:
        """Nothing to drop: the policy keeps no per-rule state."""


def _spare_capacity(candidate: Candidate) -> float:
    load = candidate.load
    return 0.0 if load is None else float(load.capacity - load.message_queue_size)


class BroadcastStrategy:
    """BROADCAST: every candidate, in order."""

    kind = RoutingStrategy.BROADCAST

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return all candidates."""
        return [candidate.agent_id for candidate in candidates]

    def forget(self, rule: str) -> None:
        """Nothing to drop: the policy is stateless."""


class FailoverStrategy:
    """FAILOVER: the first candidate, in the rule's order, that can take the message.

    A candidate qualifies when its health is at least ``health_threshold``, it is not
    overloaded (utilisation below 1; no load report counts as not overloaded) and it is not
    ejected by the outlier detector. When none qualifies the message still goes somewhere:
    to the least bad candidate, which is a non-ejected one if any, then the healthiest, then
    the least utilised, then the earliest.

    Args:
        health_threshold: the lowest health a primary may have, in [0, 1].

    Raises:
        orchestration.exceptions.ValidationError: the threshold is outside [0, 1].
    """

    kind = RoutingStrategy.FAILOVER

    def __init__(self, *, health_threshold: float = 0.5) -> None:
        if not 0.0 <= health_threshold <= 1.0:
            raise _rejected("health_threshold", health_threshold, "must be in [0, 1]")
        self._threshold = health_threshold

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the first qualifying candidate, or the least bad one."""
        if not candidates:
            return []
        threshold = self._threshold
        for candidate in candidates:
            load = candidate.load
            if (
                not candidate.ejected
                and candidate.health >= threshold
                and (load is None or load.message_queue_size < load.capacity)
            ):
                return [candidate.agent_id]
        best = min(
            range(len(candidates)),
            key=lambda i: (
                candidates[i].ejected,
                -candidates[i].health,
                _utilisation(candidates[i]),
                i,
            ),
        )
        return [candidates[best].agent_id]

    def forget(self, rule: str) -> None:
        """Nothing to drop: the policy is stateless."""


def _utilisation(candidate: Candidate) -> float:
    load = candidate.load
    return 0.0 if load is None else load.utilisation
