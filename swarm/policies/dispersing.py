"""DISPERSING: partitions spread evenly over the healthy agents by rendezvous hashing.

Every pending partition has an *owner*: rank the healthy agents (idle or busy) by their
rendezvous weight for the key ``"partition:<id>"`` (BLAKE2b via
``registry.routing.hashing.RendezvousHasher``; the same in every process), highest first; the
owner is the first agent of that ranking that has not failed the partition (``failed_on``), or
the top agent if every healthy agent has. So a retry goes to the next agent in the
partition's own ranking, never back to the one that failed it while another could run it.

``assign(state, rng)``: every idle, healthy agent takes the pending partitions it owns, lowest
id first, up to ``max_batch``; each agent works through its own share, so agents never contend
for the same partitions. *Work stealing*: an idle agent with nothing of its own takes up to
half (rounded up) of the longest share of an agent that is busy right now, from its tail
(``common.steal``), so one slow agent cannot hold the job back. (``state.pending`` may be a
window of the backlog; partitions outside it wait their turn.)

*Spread*: each agent owns about ``1 / N`` of the partitions (by count, not items).

*When an agent becomes unhealthy* (or leaves the pool), it drops out of every ranking: the
pending partitions it owned re-hash over the remaining agents (each to the next agent in its
ranking), and every other partition keeps its owner, so only that agent's share moves. When it
comes back, exactly the pending partitions that rank it first (and did not fail on it) move
back. No memory; ``rng`` is unused.
"""

from __future__ import annotations

import random

from swarm.policies.common import (
    BasePolicy,
    hand_out,
    healthy_ids,
    idle_ids,
    rendezvous_order,
    steal,
)
from swarm.scheduling import Assignment, RoundState, SwarmBehavior

__all__ = ["DispersingPolicy"]


class DispersingPolicy(BasePolicy):
    """Each idle agent takes the pending partitions that rendezvous-hash to it."""

    behavior = SwarmBehavior.DISPERSING

    def owners(self, state: RoundState) -> dict[int, str]:
        """The owner of every pending partition, by partition id (empty if no agent is healthy)."""
        ring = healthy_ids(state)
        if not ring:
            return {}
        owners: dict[int, str] = {}
        for partition in sorted(state.pending, key=lambda p: p.partition_id):
            ranking = rendezvous_order(ring, f"partition:{partition.partition_id}")
            fresh = [a for a in ranking if a not in partition.failed_on]
            owners[partition.partition_id] = (fresh or ranking)[0]
        return owners

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """Each idle agent's own pending partitions, up to ``max_batch``."""
        queues: dict[str, list[int]] = {}
        for partition_id, owner in self.owners(state).items():
            queues.setdefault(owner, []).append(partition_id)
        given = hand_out(idle_ids(state), queues, lambda _: state.config.max_batch)
        return given + steal(state, queues, given)
