"""The workload each swarm behaviour exists for, as simulated I/O of the example agents.

Every workload is one job of :data:`PARTITIONS` partitions x :data:`SUPPLIERS` suppliers on
:data:`AGENTS` agents (``emissions-000`` ..), listed by the ``list_partitions`` source with a
key per partition, and priced by ``calculate_emissions`` (so its total is the sequential
one). What makes it hard is in ``params``, which the agents turn into time spent per
partition with :func:`partition_delay_ms` (pure, so the policy simulator of the tests uses
the same model):

==========  ==========  ===============================================================
workload    behaviour   what happens
==========  ==========  ===============================================================
slowdown    MIGRATING   one agent gets 10x slower after its 4th partition
setup       CLUSTERING  20 keys; an agent's first partition of a key loads its factor
                        table (+150 ms), later ones of that key reuse it
yield       FORAGING    5 classes; each agent is fast on one class, 4x slower on others
straggler   SWARMING    one agent's 3rd partition hangs for 3 s
upstream    DISPERSING  10 keys in contiguous blocks (a sorted export); each key's
                        upstream serves one partition at a time (``upstream_limit``)
locations   FLOCKING    agents in two locations; a partition whose data lives in the
                        other location costs +60 ms
==========  ==========  ===============================================================

The base cost of a partition is ``delay_ms`` (20 ms). The fault knobs, all off by default:

- ``slow`` {agent: factor}: the agent's partitions take ``factor`` x as long;
- ``slow_after`` {agent: [n, factor]}: so do its partitions after its ``n``-th of the run;
- ``stall`` {agent: [n, ms]}: its ``n``-th partition of the run takes ``ms`` more;
- ``setup_ms``: the first partition of a key an agent sees in the run takes that much more;
- ``fast_on`` {agent: key} and ``off_factor``: partitions of other keys take ``off_factor`` x;
- ``locations`` {agent: location} and ``remote_ms``: partitions keyed with another location
  take ``remote_ms`` more;
- ``upstream_limit``: at most that many partitions of one key are priced at once, per agent
  process (the agents of one process share the upstream);
- ``failing`` [agents]: their partitions always raise;
- ``run``: a tag that starts the agents' counts and caches afresh (one per job).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AGENTS",
    "PARTITIONS",
    "SUPPLIERS",
    "WORKLOADS",
    "Workload",
    "partition_delay_ms",
    "partition_key",
]

AGENTS = 10
PARTITIONS = 200
SUPPLIERS = 20
DELAY_MS = 20


def _agent(n: int) -> str:
    return f"emissions-{n:03d}"


@dataclass(frozen=True)
class Workload:
    """One job: its partitions' keys, the agents' simulated costs and what agents know.

    Attributes:
        name: short name (a column of the benchmark's matrix).
        behavior: the swarm behaviour it is for (a ``SwarmBehavior`` value).
        keys: the keys partitions take, in turn (``blocks`` False) or in equal contiguous
            blocks (``blocks`` True).
        params: the agents' fault knobs (module docstring).
        locations: agent -> location, given to the swarm as ``agent_info``.
    """

    name: str
    behavior: str
    keys: tuple[str, ...]
    params: Mapping[str, Any]
    blocks: bool = False
    locations: Mapping[str, str] = field(default_factory=dict)

    @property
    def agents(self) -> list[str]:
        return [_agent(n) for n in range(AGENTS)]

    def key(self, partition: int) -> str:
        return partition_key(self.keys, partition, PARTITIONS, blocks=self.blocks)


def partition_key(keys: Sequence[str], partition: int, partitions: int, *, blocks: bool) -> str:
    """The key of ``partition``: in equal contiguous blocks (a sorted export), or scattered
    by a hash of its number (so no policy gains from a pattern in the numbering)."""
    if blocks:
        return keys[partition * len(keys) // partitions]
    digest = hashlib.blake2b(f"partition-{partition}".encode(), digest_size=8).digest()
    return keys[int.from_bytes(digest, "big") % len(keys)]


def _scattered(keys: Sequence[str], salt: str) -> dict[str, str]:
    """Each agent's key, by a hash of its id (no pattern shared with the partition keys)."""
    return {
        _agent(n): keys[
            hashlib.blake2b(f"{salt}-{n}".encode(), digest_size=8).digest()[0] % len(keys)
        ]
        for n in range(AGENTS)
    }


def _workloads() -> list[Workload]:
    base = {"delay_ms": DELAY_MS, "suppliers_per_partition": SUPPLIERS}
    regions = ("EU", "US", "CN", "IN", "BR")
    classes = tuple(f"class-{n}" for n in range(5))
    sites = ("eu-west", "ap-south")
    located = _scattered(sites, "location")
    return [
        Workload("slowdown", "migrating", regions, {**base, "slow_after": {_agent(3): [4, 10]}}),
        Workload(
            "setup", "clustering", tuple(f"table-{n:02d}" for n in range(20)),
            {**base, "setup_ms": 150},
        ),
        Workload(
            "yield", "foraging", classes,
            {**base, "off_factor": 4,
             "fast_on": _scattered(classes, "skill")},
        ),
        Workload("straggler", "swarming", regions, {**base, "stall": {_agent(5): [3, 3000]}}),
        Workload(
            "upstream", "dispersing", tuple(f"source-{n}" for n in range(10)),
            {**base, "upstream_limit": 1}, blocks=True,
        ),
        Workload(
            "locations", "flocking", sites,
            {**base, "locations": located, "remote_ms": 60}, locations=located,
        ),
    ]  # fmt: skip


WORKLOADS: list[Workload] = _workloads()
"""The six workloads, in the order of the module docstring's table."""


def partition_delay_ms(
    params: Mapping[str, Any], agent: str, key: str | None, count: int, first_of_key: bool
) -> float:
    """Milliseconds ``agent`` spends on a partition keyed ``key``: its ``count``-th (from 1)
    of the run, the first of that key it sees when ``first_of_key`` (module docstring)."""
    delay = float(params.get("delay_ms", 0)) * float(params.get("slow", {}).get(agent, 1))
    after = params.get("slow_after", {}).get(agent)
    if after is not None and count > int(after[0]):
        delay *= float(after[1])
    fast_on = params.get("fast_on", {})
    if fast_on and key != fast_on.get(agent):
        delay *= float(params.get("off_factor", 1))
    locations = params.get("locations", {})
    if locations and key != locations.get(agent):
        delay += float(params.get("remote_ms", 0))
    if first_of_key:
        delay += float(params.get("setup_ms", 0))
    stall = params.get("stall", {}).get(agent)
    if stall is not None and count == int(stall[0]):
        delay += float(stall[1])
    return delay
