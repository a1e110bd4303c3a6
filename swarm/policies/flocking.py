"""FLOCKING: neighbours align their batch sizes, work where they stand, keep apart upstream.

The workload it exists for: agents in several locations (regions, clouds) and data that
lives in one of them: reading across locations costs a round trip each time. The flock
works on its own location's data first and takes the other's only a little at a time.

*Feature space.* Every healthy agent sits at a point ``(x, y)``:

* ``x = LOCATION_SCALE * u(location)``, where ``u`` maps the location string to ``[0, 1)``
  through BLAKE2b (the same in every process); agents in the same location share ``x``, and
  agents without a location share the point of the empty string;
* ``y = THROUGHPUT_SCALE * throughput / max_throughput`` over the healthy agents (0 while no
  throughput is known), so ``y`` is in ``[0, THROUGHPUT_SCALE]``.

Two agents are *neighbours* when their Euclidean distance is below ``neighbor_radius`` (with
the default 5.0 and both scales 10.0: same location and throughput within half of the fastest).

``assign(state, rng)``: idle, healthy agents in agent-id order; for each:

1. *alignment*: its batch size starts at the round's fair batch ``b`` (``min(max_batch,
   ceil(backlog / idle))``) and moves ``ALIGNMENT`` (half) of the way toward its neighbours'
   mean batch size weighted by their throughput (plain mean when no throughput is known), using
   each neighbour's last batch (remembered across rounds, and updated as this round's batches
   are made): ``round(b + ALIGNMENT * (mean - b))``, clamped to ``1..max_batch``. Without
   neighbours with a batch, it is ``b``.
2. *cohesion*: when some partitions' keys are agent locations (``AgentView.location``), an
   agent with a location takes only partitions keyed with its own location or with no
   location (its own first); when none is left it takes another location's, at most
   ``ceil(size / REMOTE_SHARE)`` (a quarter) at a time, so the agents there can still take
   the rest.
3. *separation*: a neighbour's *upstreams* are its ``AgentView.upstream`` plus the keys of the
   partitions in flight on it or given to it earlier this round. The agent takes pending
   partitions whose key is none of its neighbours' upstreams first (by partition id), and the
   others only when those run out, so neighbours do not pile onto one source while other keys
   are pending. (Like every policy, it skips partitions that failed on it while another
   healthy agent has not failed them.)

Memory: each agent's last batch size. ``rng`` is unused. *Revision 1* (swarms started
before these rules) has no cohesion step.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from typing import Any, Self

from swarm.policies.common import BasePolicy, fair_batch, healthy_ids, idle_ids, may_run
from swarm.scheduling import AgentView, Assignment, PolicyConfig, RoundState, SwarmBehavior

__all__ = ["ALIGNMENT", "LOCATION_SCALE", "THROUGHPUT_SCALE", "FlockingPolicy", "position"]

LOCATION_SCALE = 10.0
THROUGHPUT_SCALE = 10.0
REMOTE_SHARE = 4
"""Revision 2: an agent takes data of another location in batches this many times smaller."""
ALIGNMENT = 0.5
"""How far an agent's batch moves toward its neighbours' mean (0 = not at all, 1 = all the way)."""


def position(agent: AgentView, max_throughput: float) -> tuple[float, float]:
    """The agent's point in the feature space (module docstring)."""
    digest = hashlib.blake2b((agent.location or "").encode(), digest_size=8).digest()
    x = LOCATION_SCALE * int.from_bytes(digest, "big") / 2.0**64
    y = THROUGHPUT_SCALE * agent.throughput / max_throughput if max_throughput > 0 else 0.0
    return x, y


class FlockingPolicy(BasePolicy):
    """Alignment of batch sizes and separation on upstreams among neighbours (module doc)."""

    behavior = SwarmBehavior.FLOCKING

    def __init__(
        self, config: PolicyConfig | None = None, batches: Mapping[str, int] | None = None
    ) -> None:
        super().__init__(config)
        self._batches: dict[str, int] = {a: int(n) for a, n in sorted((batches or {}).items())}

    def neighbours(self, state: RoundState) -> dict[str, list[str]]:
        """Every healthy agent's neighbours (sorted ids), by agent id."""
        healthy = sorted((a for a in state.agents if a.healthy), key=lambda a: a.agent_id)
        top = max((a.throughput for a in healthy), default=0.0)
        points = {a.agent_id: position(a, top) for a in healthy}
        radius = state.config.neighbor_radius
        return {
            me: [
                other for other in points if other != me and math.dist(here, points[other]) < radius
            ]
            for me, here in points.items()
        }

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """Aligned batch sizes; partitions away from the neighbours' upstreams first."""
        idle = idle_ids(state)
        remaining = sorted(state.pending, key=lambda p: p.partition_id)
        if not idle or not remaining:
            return []
        neighbours = self.neighbours(state)
        throughput = {a.agent_id: a.throughput for a in state.agents}
        locations = {a.agent_id: a.location for a in state.agents if a.location is not None}
        sites = set(locations.values())
        upstreams: dict[str, set[str]] = {
            a.agent_id: {a.upstream} if a.upstream is not None else set() for a in state.agents
        }
        for partition in state.in_flight:
            for agent in partition.running_on:
                if partition.key is not None:
                    upstreams.setdefault(agent, set()).add(partition.key)
        base = fair_batch(state.backlog, len(idle), state.config.max_batch)
        healthy = healthy_ids(state)
        assignments: list[Assignment] = []
        for agent in idle:
            if not remaining:
                break
            near = neighbours.get(agent, [])
            size = self._aligned(base, near, throughput, state.config.max_batch)
            crowded: set[str] = set()
            for other in near:
                crowded |= upstreams.get(other, set())
            allowed = [p for p in remaining if may_run(p, agent, healthy)]
            home = locations.get(agent) if state.revision >= 2 else None
            if home is None:
                chosen = sorted(allowed, key=lambda p: (p.key in crowded, p.partition_id))[:size]
            else:
                local = [p for p in allowed if p.key not in sites or p.key == home]
                if local:  # the flock works where it stands
                    chosen = sorted(local, key=lambda p: (p.key != home, p.key in crowded,
                                                          p.partition_id))[:size]  # fmt: skip
                else:  # only another location's data is left: take a little of it at a time
                    chosen = sorted(allowed, key=lambda p: (p.key in crowded, p.partition_id))
                    chosen = chosen[: math.ceil(size / REMOTE_SHARE)]
            if not chosen:
                continue
            taken = {p.partition_id for p in chosen}
            remaining = [p for p in remaining if p.partition_id not in taken]
            self._batches[agent] = len(chosen)
            upstreams.setdefault(agent, set()).update(p.key for p in chosen if p.key is not None)
            assignments.append(Assignment(agent, tuple(p.partition_id for p in chosen)))
        return assignments

    def _aligned(
        self, base: int, near: list[str], throughput: Mapping[str, float], max_batch: int
    ) -> int:
        known = [(throughput.get(n, 0.0), self._batches[n]) for n in near if n in self._batches]
        if not known:
            return base
        weight = sum(w for w, _ in known)
        if weight > 0:
            mean = sum(w * size for w, size in known) / weight
        else:
            mean = sum(size for _, size in known) / len(known)
        return max(1, min(max_batch, math.floor(base + ALIGNMENT * (mean - base) + 0.5)))

    def _memory(self) -> dict[str, Any]:
        return {"batches": dict(sorted(self._batches.items()))}

    @classmethod
    def _load(cls, memory: Mapping[str, Any], config: PolicyConfig) -> Self:
        batches = memory.get("batches", {})
        if not isinstance(batches, Mapping):
            raise ValueError("flocking memory: 'batches' must map agent -> batch size")
        return cls(config, batches)
