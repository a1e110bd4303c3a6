"""ROUND_ROBIN: the baseline every other behaviour is measured against.

Rule (each round): the idle, healthy agents, in agent-id order, take the next pending
partitions in partition-id order, a *fair batch* each: ``min(max_batch, ceil(pending / idle))``
partitions, so all pending work is spread over the idle agents at once. No memory, no
randomness; failed partitions come back as pending and are dealt again like any other.
"""

from __future__ import annotations

import random

from swarm.policies.common import BasePolicy, fair_deal
from swarm.scheduling import Assignment, RoundState, SwarmBehavior

__all__ = ["RoundRobinPolicy"]


class RoundRobinPolicy(BasePolicy):
    """Idle agents in id order take the next pending partitions, a fair batch each."""

    behavior = SwarmBehavior.ROUND_ROBIN

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """Deal the pending partitions over the idle agents (``rng`` is unused)."""
        return fair_deal(state)
