"""CLUSTERING: partitions grouped by key, each group pinned to one agent, under a load cap.

The workload it exists for: partitions that share an expensive per-key setup (loading a
sector's or a region's factor table, warming a model): kept together, each agent pays the
setup of a few keys instead of nearly all of them.

*Groups*: partitions with the same ``key`` (region, sector...) form a group; a partition
without a key is a group of its own (so keyless work spreads like DISPERSING).

Memory, kept small for continue-as-new: each agent's *load* (the items ever placed on it,
finished work included, so placement stays stable for the whole run), each keyed group's
*home* agent, and the *pins* of partitions placed but not yet handed out. The *cap* is
``load_cap x total_items / healthy agents``.

``assign(state, rng)``:

1. A pinned pending partition is placed again (its items leave its agent's load) when its
   agent is no longer healthy, or when it failed there (``failed_on``) while some healthy
   agent has not failed it.
2. Unpinned pending partitions are placed group by group (keyed groups in key order, then
   keyless ones), each group's partitions in id order. A group's candidates are the healthy
   agents ranked by rendezvous weight for its key (BLAKE2b, the same in every process); when
   the key is some agent's location, the agents in that location first (the data is there);
   agents on a failure streak after the others. A partition goes to its group's home while the home
   is healthy and has room for it (load + items <= cap). Otherwise the group moves on: the
   rest of the group in view goes to the first candidate with room for all of it (so a group
   that would exceed the cap on its top agent goes to the next one in its order); *splitting*:
   if no candidate can take all of it (the group is bigger than the cap, or every agent is
   nearly full), the partition goes to the first candidate with room for it, so the group
   fills agents up to the cap in its rendezvous order; if none has room, to the least-loaded
   candidate (ties: rendezvous order). That agent becomes the group's home. A partition that
   failed on the home is placed the same way without moving the home; no partition goes to an
   agent it failed on while another healthy agent has not failed it.
3. Every idle, healthy agent takes half (rounded up) of its own pinned pending partitions,
   group by group (key, then id), at most ``max_batch``; they leave the pins. (Half, so a
   slow agent's queue stays where idle agents can steal it.) *Work stealing*: an idle agent with
   nothing pinned takes half (rounded up) of the pinned backlog of the agent busy with the
   most, from its tail (``common.steal``); the stolen items move to the thief's load. So
   groups stay together while their agent keeps up, and a slow agent's tail is shared.

``state.pending`` may be only a window of the backlog: partitions are placed as they come into
view, and later partitions of a group join its home while it has room. A retried partition
counts again toward the load of the agent it is placed on. ``rng`` is unused.

*Revision 1* (swarms started before these rules): no location order in step 2, and step 3
hands out up to ``max_batch`` of an agent's pinned partitions at once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, Self

from swarm.policies.common import (
    BasePolicy,
    hand_out,
    healthy_ids,
    idle_ids,
    may_run,
    preferred_ids,
    rendezvous_order,
    steal,
)
from swarm.scheduling import (
    Assignment,
    PartitionView,
    PolicyConfig,
    RoundState,
    SwarmBehavior,
)

__all__ = ["ClusteringPolicy", "group_of"]


def group_of(partition: PartitionView) -> tuple[str, str]:
    """The partition's group: ``("key", key)``, or ``("partition", "<id>")`` without a key."""
    if partition.key is not None:
        return "key", partition.key
    return "partition", f"{partition.partition_id:012d}"


class ClusteringPolicy(BasePolicy):
    """Groups pinned to agents by rendezvous on their key, under a load cap (module doc)."""

    behavior = SwarmBehavior.CLUSTERING

    def __init__(
        self,
        config: PolicyConfig | None = None,
        *,
        loads: Mapping[str, int] | None = None,
        homes: Mapping[str, str] | None = None,
        pins: Mapping[int, str] | None = None,
    ) -> None:
        super().__init__(config)
        self._loads = {str(a): int(n) for a, n in sorted((loads or {}).items())}
        self._homes = {str(k): str(a) for k, a in sorted((homes or {}).items())}
        self._pins = {int(p): str(a) for p, a in sorted((pins or {}).items())}

    def pins(self) -> dict[int, str]:
        """The agent of every partition placed but not handed out yet, by partition id."""
        return dict(sorted(self._pins.items()))

    def homes(self) -> dict[str, str]:
        """The home agent of every keyed group placed so far, by key."""
        return dict(sorted(self._homes.items()))

    def loads(self) -> dict[str, int]:
        """The items placed on each agent so far, by agent id."""
        return dict(sorted(self._loads.items()))

    def assign(self, state: RoundState, rng: random.Random) -> list[Assignment]:
        """Place new partitions, then give each idle agent its own pinned partitions."""
        healthy = healthy_ids(state)
        for partition in state.in_flight:
            self._pins.pop(partition.partition_id, None)
        if not healthy:
            return []
        pending = sorted(state.pending, key=lambda p: (group_of(p), p.partition_id))
        groups: dict[tuple[str, str], list[PartitionView]] = {}
        for partition in pending:
            agent = self._pins.get(partition.partition_id)
            if agent is None or agent not in healthy or not may_run(partition, agent, healthy):
                if agent is not None:
                    del self._pins[partition.partition_id]
                    self._loads[agent] = self._loads.get(agent, 0) - partition.items
                groups.setdefault(group_of(partition), []).append(partition)
        cap = state.config.load_cap * state.total_items / len(healthy)
        clean = set(preferred_ids(state))
        where = {a.agent_id: a.location for a in state.agents if a.location is not None}
        sites = set(where.values()) if state.revision >= 2 else set()
        for group, members in groups.items():
            order = rendezvous_order(healthy, ":".join(group))
            if group[1] in sites:  # data of a location: its agents first
                site = group[1]
                order.sort(key=lambda agent: where.get(agent) != site)
            order.sort(key=lambda agent: agent not in clean)
            self._place(group, order, members, cap, healthy)
        queues: dict[str, list[int]] = {}
        for partition in pending:
            agent = self._pins[partition.partition_id]
            queues.setdefault(agent, []).append(partition.partition_id)
        batch = state.config.max_batch
        if state.revision >= 2:  # half of its queue at a time: the rest can still be stolen
            sizes = {
                agent: min(batch, math.ceil(len(queue) / 2)) for agent, queue in queues.items()
            }
            assignments = hand_out(idle_ids(state), queues, lambda agent: sizes[agent])
        else:
            assignments = hand_out(idle_ids(state), queues, lambda _: batch)
        stolen = steal(state, queues, assignments)
        items = {p.partition_id: p.items for p in pending}
        for assignment in stolen:
            for partition_id in assignment.partition_ids:
                owner = self._pins[partition_id]
                self._loads[owner] = self._loads.get(owner, 0) - items[partition_id]
                self._loads[assignment.agent_id] = (
                    self._loads.get(assignment.agent_id, 0) + items[partition_id]
                )
        for assignment in [*assignments, *stolen]:
            for partition_id in assignment.partition_ids:
                del self._pins[partition_id]
        return [*assignments, *stolen]

    def _place(
        self,
        group: tuple[str, str],
        order: list[str],
        members: list[PartitionView],
        cap: float,
        healthy: list[str],
    ) -> None:
        def room(agent: str, items: int) -> bool:
            return self._loads.get(agent, 0) + items <= cap

        keyed = group[0] == "key"
        for index, partition in enumerate(members):
            allowed = [a for a in order if may_run(partition, a, healthy)]
            home = self._homes.get(group[1]) if keyed else None
            at_home = home is not None and home in order and room(home, partition.items)
            agent = home if at_home and home in allowed else None
            if not at_home:  # the group moves on: the rest of it, whole, to the first with room
                rest = members[index:]
                size = sum(p.items for p in rest)
                agent = next(
                    (
                        a
                        for a in order
                        if room(a, size) and all(may_run(p, a, healthy) for p in rest)
                    ),
                    None,
                )
            if agent is None:  # split (or a partition that failed at home)
                agent = next((a for a in allowed if room(a, partition.items)), None)
            if agent is None:
                agent = min(allowed, key=lambda a: self._loads.get(a, 0))
            if keyed and not at_home:
                self._homes[group[1]] = agent
            self._pins[partition.partition_id] = agent
            self._loads[agent] = self._loads.get(agent, 0) + partition.items

    def _memory(self) -> dict[str, Any]:
        return {
            "loads": dict(self._loads),
            "homes": dict(self._homes),
            "pins": {str(p): a for p, a in self._pins.items()},
        }

    @classmethod
    def _load(cls, memory: Mapping[str, Any], config: PolicyConfig) -> Self:
        parts = [memory.get(name, {}) for name in ("loads", "homes", "pins")]
        if not all(isinstance(part, Mapping) for part in parts):
            raise ValueError("clustering memory: 'loads', 'homes' and 'pins' must be mappings")
        loads, homes, pins = parts
        return cls(config, loads=loads, homes=homes, pins={int(p): a for p, a in pins.items()})
