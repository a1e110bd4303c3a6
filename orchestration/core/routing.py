"""``RoutingStrategy``: how one target is picked among the agents that qualify.

The router's rules (``registry.routing``) and the steps that find their agent by capability
(``workflows``) name their strategy with it, so it lives on the ground floor.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ROUTING_ERROR", "RoutingStrategy"]

ROUTING_ERROR = "RoutingError"
"""ApplicationError type of a routing decision that found no agent (retried until the wait
for one is over, so agents that come back are used)."""


class RoutingStrategy(StrEnum):
    """How a routing rule, or a step routed by capability, picks its target agents."""

    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    WEIGHTED = "weighted"
    CONTENT_BASED = "content_based"
    PRIORITY = "priority"
    AFFINITY = "affinity"
    BROADCAST = "broadcast"
    FAILOVER = "failover"
    CONSISTENT_HASH = "consistent_hash"
