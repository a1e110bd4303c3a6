"""Builders of crafted round states and the shared simulation scenario for the policy tests."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from swarm.policies import make_policy
from swarm.scheduling import (
    RULES,
    AgentView,
    Assignment,
    PartitionView,
    Policy,
    PolicyConfig,
    RoundState,
    SwarmBehavior,
)
from tests.swarm.simulator import SimAgent, SimPartition, Step

__all__ = [
    "ALL_BEHAVIORS",
    "SCENARIO_AGENTS",
    "SCENARIO_PARTITIONS",
    "agent",
    "part",
    "replay",
    "roundtrip",
    "state",
]

ALL_BEHAVIORS = list(SwarmBehavior)

SCENARIO_AGENTS = [
    SimAgent(
        f"agent-{i:02d}",
        speed=20.0 if i == 3 else 100.0,
        fails=i == 0,
        location="eu" if i % 2 else "us",
    )
    for i in range(10)
]
"""10 agents at 100 items/s, except agent-03 (5x slower) and agent-00 (fails everything)."""

SCENARIO_PARTITIONS = [SimPartition(i, 100, f"region-{i % 10}") for i in range(100)]
"""100 partitions x 100 items, in 10 regions."""


def agent(agent_id: str, **fields: Any) -> AgentView:
    """An idle, healthy agent unless ``fields`` say otherwise."""
    return AgentView(agent_id=agent_id, **fields)


def part(partition_id: int, **fields: Any) -> PartitionView:
    """A pending partition of 1 item unless ``fields`` say otherwise."""
    return PartitionView(partition_id=partition_id, **fields)


def state(
    agents: Sequence[AgentView],
    pending: Sequence[PartitionView] = (),
    in_flight: Sequence[PartitionView] = (),
    *,
    now: float = 0.0,
    config: PolicyConfig | None = None,
    round: int = 1,
    total_items: int | None = None,
    pending_count: int | None = None,
    revision: int = RULES,
) -> RoundState:
    """A round state; ``total_items`` defaults to the items of the partitions given;
    ``revision`` 1 for the rules swarms started before the current ones follow."""
    if total_items is None:
        total_items = sum(p.items for p in [*pending, *in_flight])
    return RoundState(
        round=round,
        now=now,
        agents=sorted(agents, key=lambda a: a.agent_id),
        pending=sorted(pending, key=lambda p: p.partition_id),
        in_flight=sorted(in_flight, key=lambda p: p.partition_id),
        total_items=total_items,
        done_items=0,
        config=config or PolicyConfig(),
        pending_count=pending_count,
        revision=revision,
    )


def roundtrip(policy: Policy, behavior: SwarmBehavior, config: PolicyConfig) -> Policy:
    """``policy`` restored from its export after a JSON round trip (as continue-as-new does)."""
    memory = json.loads(json.dumps(policy.export()))
    return make_policy(behavior, config, memory)


def replay(policy: Policy, steps: Sequence[Step], rng: random.Random) -> list[list[Assignment]]:
    """Feed ``steps`` (states, then outcomes) to ``policy``; its answer to each state."""
    answers: list[list[Assignment]] = []
    for step in steps:
        answers.append(policy.assign(step.state, rng))
        for outcome in step.outcomes:
            policy.observe(outcome)
    return answers
