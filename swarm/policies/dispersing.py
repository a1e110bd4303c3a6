"""DISPERSING: idle agents spread over the partitions' keys, so no upstream is crowded.

The workload it exists for: partitions whose key names the upstream their data comes from
(a supplier portal, a regional API), each upstream serving a few requests at a time, in a
sorted export where one key's partitions come together. Handed out in id order (round
robin), every agent queues at the same upstream; dispersed, each works another one.

``assign(state, rng)``: idle, healthy agents in agent-id order; the round's *fair batch* is
``min(max_batch, ceil(backlog / idle))``. The *crowd* of a key is its partitions in flight,
plus those given out earlier this round. Each agent takes, from the key with the smallest
crowd (ties: the agent's own rendezvous order of the keys, ``rendezvous_order_of_keys``, so
agents break ties differently), that key's lowest pending partition ids it may run, up to
the fair batch, and goes on to the next such key if that one runs out: one agent, one
upstream. When at most half as many keys have pending partitions as there are healthy
agents, every key is shared by two agents or more whatever the policy does, and a batch of
one key would only make its agent's time hang on that key: then the agent takes one
partition at a time from the least crowded key (the crowd counting each), so its batch
mixes the keys. (Like every policy, it skips
partitions that failed on it while another healthy agent has not failed them.) Partitions
without a key are one key, ``"default"``. No memory; ``rng`` is unused.

*Revision 1* (swarms started before these rules), kept for their replay: every pending
partition has an *owner*, the first agent of its rendezvous ranking of the healthy agents
(key ``"partition:<id>"``, BLAKE2b) that has not failed it; each idle agent takes the
partitions it owns, lowest id first, up to ``max_batch``, and an idle agent with nothing of
its own steals half (rounded up) of the longest share of a busy agent from its tail
(``common.steal``). :meth:`DispersingPolicy.owners` gives that ownership.
"""

from __future__ import annotations

import random
from collections import Counter

from swarm.policies.common import (
    BasePolicy,
    fair_batch,
    hand_out,
    healthy_ids,
    idle_ids,
    may_run,
    partition_class,
    rendezvous_order,
    rendezvous_order_of_keys,
    steal,
)
from swarm.scheduling import Assignment, PartitionView, RoundState, SwarmBehavior

__all__ = ["DispersingPolicy"]


class DispersingPolicy(BasePolicy):
    """Idle agents spread over the keys (revision 1: over rendezvous owners)."""

    behavior = SwarmBehavior.DISPERSING

    def owners(self, state: RoundState) -> dict[int, str]:
        """Revision 1: the owner of every pending partition, by partition id (empty if no
        agent is healthy)."""
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
        """Revision 2: idle agents spread over the keys; revision 1: each idle agent's own
        pending partitions, up to ``max_batch``, and work stealing."""
        if state.revision >= 2:
            return _spread_over_keys(state)
        queues: dict[str, list[int]] = {}
        for partition_id, owner in self.owners(state).items():
            queues.setdefault(owner, []).append(partition_id)
        given = hand_out(idle_ids(state), queues, lambda _: state.config.max_batch)
        return given + steal(state, queues, given)


def _spread_over_keys(state: RoundState) -> list[Assignment]:
    """Idle agents in id order each take a fair batch, key by key (module docstring)."""
    healthy = frozenset(healthy_ids(state))
    idle = idle_ids(state)
    batch = fair_batch(state.backlog, len(idle), state.config.max_batch)
    by_key: dict[str, list[PartitionView]] = {}
    for partition in sorted(state.pending, key=lambda p: p.partition_id):
        by_key.setdefault(partition_class(partition.key), []).append(partition)
    crowd = Counter(partition_class(p.key) for p in state.in_flight)
    start = dict.fromkeys(by_key, 0)  # before it, every partition of the key is taken
    taken: set[int] = set()
    per_key = 1 if 2 * len(by_key) <= len(healthy) else batch
    assignments: list[Assignment] = []
    for agent in idle:
        ranks = {k: i for i, k in enumerate(rendezvous_order_of_keys(agent, by_key))}
        cursor = dict(start)
        chosen: list[int] = []
        live = sorted(by_key, key=lambda k: (crowd[k], ranks[k]))
        while len(chosen) < batch and live:
            key = live.pop(0)
            listed, at, took = by_key[key], cursor[key], 0
            while at < len(listed) and took < per_key and len(chosen) < batch:
                partition = listed[at]
                at += 1
                if partition.partition_id not in taken and may_run(partition, agent, healthy):
                    chosen.append(partition.partition_id)
                    taken.add(partition.partition_id)
                    crowd[key] += 1
                    took += 1
            cursor[key] = at
            if at < len(listed):  # back in line by its crowd, for the next slot
                place = next(
                    (
                        n
                        for n, k in enumerate(live)
                        if (crowd[k], ranks[k]) > (crowd[key], ranks[key])
                    ),
                    len(live),
                )
                live.insert(place, key)
        for key, listed in by_key.items():
            at = start[key]
            while at < len(listed) and listed[at].partition_id in taken:
                at += 1
            start[key] = at
        if chosen:
            assignments.append(Assignment(agent, tuple(sorted(chosen))))
    return assignments
