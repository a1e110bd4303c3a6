"""The swarm scheduling policies, one per :class:`~swarm.scheduling.SwarmBehavior`.

Each policy decides, every scheduling round, which pending partitions go to which idle agent
(see :mod:`swarm.scheduling` for the round state, the answer and the rules they keep). Each
module's docstring states its behaviour's rule precisely:

- :mod:`swarm.policies.foraging`: pheromone on (agent, partition class), scouts explore;
  for agents whose yield differs by class;
- :mod:`swarm.policies.flocking`: neighbours align batch sizes, work on their own
  location's data, keep apart on upstreams; for agents in several locations;
- :mod:`swarm.policies.swarming`: fair assignment, then backup copies of stragglers; for a
  straggler;
- :mod:`swarm.policies.dispersing`: idle agents spread over the keys in flight; for
  rate-limited upstreams behind the keys;
- :mod:`swarm.policies.clustering`: groups pinned to agents by key, under a load cap; for an
  expensive per-key setup;
- :mod:`swarm.policies.migrating`: a plan whose queued work moves off slow or lost agents;
  for an agent that slows down mid-run;
- :mod:`swarm.policies.round_robin`: the baseline.

``examples/swarm/workloads.py`` simulates each of those workloads; ``bench/swarm.py`` runs
every behaviour on every one of them against round robin.

Policies are pure and deterministic (workflow code): the only randomness is the
``random.Random`` handed to ``assign``; memory round-trips through ``export()`` and
``make_policy(behavior, config, memory)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from swarm.policies.clustering import ClusteringPolicy
from swarm.policies.common import BasePolicy
from swarm.policies.dispersing import DispersingPolicy
from swarm.policies.flocking import FlockingPolicy
from swarm.policies.foraging import ForagingPolicy
from swarm.policies.migrating import MigratingPolicy
from swarm.policies.round_robin import RoundRobinPolicy
from swarm.policies.swarming import SwarmingPolicy
from swarm.scheduling import Policy, PolicyConfig, SwarmBehavior

__all__ = [
    "POLICIES",
    "BasePolicy",
    "ClusteringPolicy",
    "DispersingPolicy",
    "FlockingPolicy",
    "ForagingPolicy",
    "MigratingPolicy",
    "PolicyFactory",
    "RoundRobinPolicy",
    "SwarmingPolicy",
    "make_policy",
]


class PolicyFactory(Protocol):
    """A policy class: built from a config, or restored from an ``export()``."""

    def __call__(self, config: PolicyConfig | None = None) -> Policy: ...

    def restore(self, memory: Mapping[str, Any], config: PolicyConfig) -> Policy: ...


POLICIES: Mapping[SwarmBehavior, PolicyFactory] = {
    SwarmBehavior.FORAGING: ForagingPolicy,
    SwarmBehavior.FLOCKING: FlockingPolicy,
    SwarmBehavior.SWARMING: SwarmingPolicy,
    SwarmBehavior.DISPERSING: DispersingPolicy,
    SwarmBehavior.CLUSTERING: ClusteringPolicy,
    SwarmBehavior.MIGRATING: MigratingPolicy,
    SwarmBehavior.ROUND_ROBIN: RoundRobinPolicy,
}
"""The policy class of every behaviour."""


def make_policy(
    behavior: SwarmBehavior | str,
    config: PolicyConfig,
    memory: Mapping[str, Any] | None = None,
) -> Policy:
    """The policy of ``behavior``: fresh, or restored from ``memory`` (a previous ``export()``).

    Raises:
        ValueError: unknown behaviour (the message lists the allowed values), invalid config, or
            memory that does not belong to this behaviour.
    """
    try:
        kind = SwarmBehavior(behavior)
    except ValueError:
        allowed = ", ".join(b.value for b in SwarmBehavior)
        raise ValueError(
            f"unknown swarm behavior {behavior!r}; expected one of: {allowed}"
        ) from None
    factory = POLICIES[kind]
    return factory(config) if memory is None else factory.restore(memory, config)
