"""Routing policies of the message router: pure, in-memory, one object per (rule, strategy).

The router filters a rule's targets down to registered, healthy agents, wraps them as
:class:`Candidate` objects in the rule's order and asks the rule's strategy to
:meth:`~Strategy.select` among them. :class:`OutlierDetector` tracks failures and tells the
router which agents to mark ejected.
"""

from __future__ import annotations

from orchestration.core.hashing import RendezvousHasher
from registry.routing.balancing import LeastLoadedStrategy, RoundRobinStrategy, WeightedStrategy
from registry.routing.base import Strategy, load_score
from registry.routing.ejection import OutlierDetector, without_ejected
from registry.routing.factory import make_strategy
from registry.routing.hashing import AffinityStrategy, ConsistentHashStrategy
from registry.routing.strategies import (
    BroadcastStrategy,
    ContentBasedStrategy,
    FailoverStrategy,
    PriorityStrategy,
)
from registry.routing.types import Candidate, LoadInfo, Priority, RouteRequest, RoutingStrategy

__all__ = [
    "AffinityStrategy",
    "BroadcastStrategy",
    "Candidate",
    "ConsistentHashStrategy",
    "ContentBasedStrategy",
    "FailoverStrategy",
    "LeastLoadedStrategy",
    "LoadInfo",
    "OutlierDetector",
    "Priority",
    "PriorityStrategy",
    "RendezvousHasher",
    "RoundRobinStrategy",
    "RouteRequest",
    "RoutingStrategy",
    "Strategy",
    "WeightedStrategy",
    "load_score",
    "make_strategy",
    "without_ejected",
]
