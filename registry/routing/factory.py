"""Build the strategy object for a :class:`~registry.routing.types.RoutingStrategy`."""

from __future__ import annotations

import random

from registry.routing.balancing import LeastLoadedStrategy, RoundRobinStrategy, WeightedStrategy
from registry.routing.base import Strategy
from registry.routing.hashing import AffinityStrategy, ConsistentHashStrategy
from registry.routing.strategies import (
    BroadcastStrategy,
    ContentBasedStrategy,
    FailoverStrategy,
    PriorityStrategy,
)
from registry.routing.types import RoutingStrategy

__all__ = ["make_strategy"]


def make_strategy(kind: RoutingStrategy, *, rng: random.Random | None = None) -> Strategy:
    """A fresh strategy object with default settings.

    The router keeps one object per (rule, strategy); objects also key their state by rule
    name, so sharing one between rules is safe too. Build the classes directly to change
    their settings (affinity load factor and memory, failover health threshold).

    Args:
        kind: which policy.
        rng: random generator for the policies that sample (LEAST_LOADED, PRIORITY); a
            seeded one makes their choices reproducible. Other policies ignore it.

    Raises:
        ValueError: ``kind`` is not a routing strategy.
    """
    kind = RoutingStrategy(kind)
    if kind is RoutingStrategy.ROUND_ROBIN:
        return RoundRobinStrategy()
    if kind is RoutingStrategy.LEAST_LOADED:
        return LeastLoadedStrategy(rng=rng)
    if kind is RoutingStrategy.WEIGHTED:
        return WeightedStrategy()
    if kind is RoutingStrategy.CONTENT_BASED:
        return ContentBasedStrategy()
    if kind is RoutingStrategy.PRIORITY:
        return PriorityStrategy(rng=rng)
    if kind is RoutingStrategy.AFFINITY:
        return AffinityStrategy()
    if kind is RoutingStrategy.BROADCAST:
        return BroadcastStrategy()
    if kind is RoutingStrategy.FAILOVER:
        return FailoverStrategy()
    return ConsistentHashStrategy()
