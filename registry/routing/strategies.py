"""Routing policies that look at content, priority and health, or send to every candidate:
CONTENT_BASED, PRIORITY, BROADCAST and FAILOVER.

The load-spreading policies (ROUND_ROBIN, LEAST_LOADED, WEIGHTED) live in
:mod:`registry.routing.balancing`, the hash-based ones (AFFINITY, CONSISTENT_HASH) in
:mod:`registry.routing.hashing`.
Every policy returns agent ids taken from the candidates it was given, and an empty list only
when it was given none.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from registry.routing.balancing import LeastLoadedStrategy
from registry.routing.base import load_score
from registry.routing.listcache import ListCache
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
    "PriorityStrategy",
]


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
        self._best: ListCache[_Best] = ListCache(_Best, _Best.refresh)

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return the best candidate for the request's priority."""
        if not candidates:
            return []
        priority = request.priority
        if priority == Priority.NORMAL:
            return self._least_loaded.select(candidates, request)
        best = self._best.get(candidates)
        if priority < Priority.NORMAL:
            return [best.urgent()]
        return [best.spare()]

    def forget(self, rule: str) -> None:
        """Nothing to drop: the policy keeps no per-rule state (its per-list cache is bounded)."""


_Key = tuple[float, float, int]


def _urgent_key(candidate: Candidate, index: int) -> _Key:
    """Healthiest, then lowest load score, then earliest: the largest key wins."""
    return (candidate.health, -load_score(candidate), -index)


def _spare_key(candidate: Candidate, index: int) -> _Key:
    """Most spare capacity, then lowest load score, then earliest: the largest key wins."""
    return (_spare_capacity(candidate), -load_score(candidate), -index)


class _Ranking:
    """One ordering of a candidate list: every candidate's key and the largest one, lazily."""

    __slots__ = ("best", "key", "keys")

    def __init__(self, key: Callable[[Candidate, int], _Key]) -> None:
        self.key = key
        self.keys: list[_Key] | None = None
        self.best: _Key | None = None

    def winner(self, candidates: list[Candidate]) -> str:
        keys = self.keys
        if keys is None:
            key = self.key
            keys = self.keys = [key(candidate, i) for i, candidate in enumerate(candidates)]
        best = self.best
        if best is None:
            best = self.best = max(keys)
        return candidates[-best[2]].agent_id

    def refresh(self, candidates: list[Candidate], changed: list[int]) -> None:
        keys = self.keys
        if keys is None:
            return
        key = self.key
        for index in changed:
            new = keys[index] = key(candidates[index], index)
            best = self.best
            if best is None:
                continue
            if new > best:
                self.best = new
            elif -best[2] == index and new != best:
                self.best = None  # the leader got worse: find the new one when asked


class _Best:
    """The CRITICAL/HIGH and the LOW choice of one candidate list, kept up to date per entry."""

    __slots__ = ("candidates", "low", "urgent_ranking")

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates
        self.urgent_ranking = _Ranking(_urgent_key)
        self.low = _Ranking(_spare_key)

    def urgent(self) -> str:
        return self.urgent_ranking.winner(self.candidates)

    def spare(self) -> str:
        return self.low.winner(self.candidates)

    def refresh(
        self, old: list[Candidate], candidates: list[Candidate], changed: list[int]
    ) -> bool:
        self.candidates = candidates
        self.urgent_ranking.refresh(candidates, changed)
        self.low.refresh(candidates, changed)
        return True


def _spare_capacity(candidate: Candidate) -> float:
    load = candidate.load
    return 0.0 if load is None else float(load.capacity - load.message_queue_size)


class BroadcastStrategy:
    """BROADCAST: every candidate, in order.

    The ids of a candidate list are kept per list (see :class:`ListCache`), so a decision
    over a cached list is a copy of that list of ids; the caller owns the copy.
    """

    kind = RoutingStrategy.BROADCAST

    def __init__(self) -> None:
        self._ids: ListCache[list[str]] = ListCache(_agent_ids, _refresh_agent_ids)

    def select(self, candidates: Sequence[Candidate], request: RouteRequest) -> list[str]:
        """Return all candidates."""
        if not candidates:
            return []
        return list(self._ids.get(candidates))

    def forget(self, rule: str) -> None:
        """Nothing to drop: the policy keeps no per-rule state (its per-list cache is bounded)."""


def _agent_ids(candidates: list[Candidate]) -> list[str]:
    return [candidate.agent_id for candidate in candidates]


def _refresh_agent_ids(
    ids: list[str], old: list[Candidate], candidates: list[Candidate], changed: list[int]
) -> bool:
    for index in changed:
        ids[index] = candidates[index].agent_id
    return True


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
