"""Properties every policy keeps: the scheduling rules, determinism, and export/restore."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarm.policies import make_policy
from swarm.scheduling import (
    AgentView,
    Assignment,
    Outcome,
    PartitionView,
    PolicyConfig,
    RoundState,
    SwarmBehavior,
    avoid_repeat_failures,
    check_assignments,
)
from tests.swarm.helpers import (
    ALL_BEHAVIORS,
    SCENARIO_AGENTS,
    SCENARIO_PARTITIONS,
    replay,
    roundtrip,
)
from tests.swarm.simulator import simulate

ROOT = Path(__file__).resolve().parents[2]
AGENT_IDS = [f"a{i}" for i in range(6)]
KEYS = [None, "k1", "k2", "k3"]

configs = st.builds(
    PolicyConfig,
    max_batch=st.integers(1, 6),
    neighbor_radius=st.floats(0, 15),
    pheromone_evaporation_rate=st.floats(0, 1),
    scout_fraction=st.floats(0, 1),
    load_cap=st.floats(0.1, 3),
    migration_margin=st.floats(0, 1),
    straggler_factor=st.floats(0.1, 5),
    max_backups=st.integers(0, 3),
)


@st.composite
def round_states(draw: st.DrawFn, config: PolicyConfig) -> RoundState:
    """A random state that keeps the workflow's invariants (in-flight work is on busy agents)."""
    ids = AGENT_IDS[: draw(st.integers(1, len(AGENT_IDS)))]
    agents = [
        AgentView(
            agent_id=agent_id,
            idle=draw(st.booleans()),
            healthy=draw(st.booleans()),
            location=draw(st.sampled_from([None, "eu", "us"])),
            upstream=draw(st.sampled_from(KEYS)),
            throughput=draw(st.sampled_from([0.0, 0.5, 20.0, 100.0, 333.3])),
            failures=draw(st.integers(0, 3)),
        )
        for agent_id in ids
    ]
    busy = [a.agent_id for a in agents if not a.idle]
    now = draw(st.floats(0, 1000))
    pending: list[PartitionView] = []
    in_flight: list[PartitionView] = []
    for partition_id in range(draw(st.integers(0, 25))):
        items = draw(st.integers(0, 500))
        key = draw(st.sampled_from(KEYS))
        attempts = draw(st.integers(0, 3))
        failed_on = tuple(draw(st.lists(st.sampled_from(ids), unique=True, max_size=attempts)))
        running = draw(st.lists(st.sampled_from(busy), unique=True)) if busy else []
        started = draw(st.one_of(st.none(), st.floats(0, now))) if running else None
        view = PartitionView(partition_id, items, key, attempts, tuple(running), started, failed_on)
        (in_flight if running else pending).append(view)
    draw(st.randoms(use_true_random=False)).shuffle(pending)  # the workflow's FIFO order
    total = sum(p.items for p in [*pending, *in_flight]) + draw(st.integers(0, 1000))
    backlog = draw(st.one_of(st.none(), st.integers(len(pending), len(pending) + 50)))
    return RoundState(
        draw(st.integers(1, 50)), now, agents, pending, in_flight, total, 0, config, backlog
    )


outcomes = st.builds(
    Outcome,
    agent_id=st.sampled_from(AGENT_IDS),
    partition_ids=st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True).map(tuple),
    items=st.integers(0, 1000),
    duration_s=st.floats(0, 100),
    success=st.booleans(),
    keys=st.lists(st.sampled_from(KEYS), max_size=4).map(tuple),
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[PolicyConfig, list[tuple[RoundState, list[Outcome]]]]:
    """A config and a few rounds: each a state, then the outcomes observed after it."""
    config = draw(configs)
    rounds = draw(
        st.lists(
            st.tuples(round_states(config), st.lists(outcomes, max_size=3)), min_size=1, max_size=4
        )
    )
    return config, rounds


def run(
    behavior: SwarmBehavior,
    config: PolicyConfig,
    rounds: list[tuple[RoundState, list[Outcome]]],
    seed: int,
    restore_at: int | None = None,
) -> list[list[Assignment]]:
    """The policy's answers to ``rounds``; restored from its export before round ``restore_at``."""
    policy = make_policy(behavior, config)
    rng = random.Random(seed)
    answers = []
    for index, (round_state, observed) in enumerate(rounds):
        if index == restore_at:
            policy = roundtrip(policy, behavior, config)
        answers.append(policy.assign(round_state, rng))
        for outcome in observed:
            policy.observe(outcome)
    return answers


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("behavior", ALL_BEHAVIORS)
@PROPERTY_SETTINGS
@given(history=histories(), seed=st.integers(0, 2**32))
def test_assignments_keep_the_rules(
    behavior: SwarmBehavior,
    history: tuple[PolicyConfig, list[tuple[RoundState, list[Outcome]]]],
    seed: int,
) -> None:
    config, rounds = history
    answers = run(behavior, config, rounds, seed)
    for (round_state, _), answer in zip(rounds, answers, strict=True):
        check_assignments(round_state, answer)
        assert avoid_repeat_failures(round_state, answer) == answer


@pytest.mark.parametrize("behavior", ALL_BEHAVIORS)
@PROPERTY_SETTINGS
@given(history=histories(), seed=st.integers(0, 2**32), data=st.data())
def test_same_inputs_same_decisions_and_restore_continues_identically(
    behavior: SwarmBehavior,
    history: tuple[PolicyConfig, list[tuple[RoundState, list[Outcome]]]],
    seed: int,
    data: st.DataObject,
) -> None:
    config, rounds = history
    first = run(behavior, config, rounds, seed)
    assert run(behavior, config, rounds, seed) == first
    cut = data.draw(st.integers(0, len(rounds) - 1))
    assert run(behavior, config, rounds, seed, restore_at=cut) == first


@PROPERTY_SETTINGS
@given(history=histories(), seed=st.integers(0, 2**32))
def test_swarming_never_exceeds_max_backups(
    history: tuple[PolicyConfig, list[tuple[RoundState, list[Outcome]]]], seed: int
) -> None:
    config, rounds = history
    answers = run(SwarmBehavior.SWARMING, config, rounds, seed)
    for (round_state, _), answer in zip(rounds, answers, strict=True):
        running = {p.partition_id: len(p.running_on) for p in round_state.in_flight}
        made = Counter(pid for a in answer if a.backup for pid in a.partition_ids)
        for partition_id, count in made.items():
            assert running[partition_id] - 1 + count <= config.max_backups
        if any(a.backup for a in answer):  # only once the whole backlog is handed out
            assert round_state.backlog == sum(len(a.partition_ids) for a in answer if not a.backup)


@pytest.mark.parametrize("behavior", ALL_BEHAVIORS)
@pytest.mark.parametrize("cut", [1, 4, 9])
def test_restore_mid_run_gives_identical_future_decisions(
    behavior: SwarmBehavior, cut: int
) -> None:
    config = PolicyConfig()
    trace = simulate(
        make_policy(behavior, config),
        SCENARIO_AGENTS,
        SCENARIO_PARTITIONS,
        config=config,
        seed=7,
        tick_s=1.0,
    ).steps
    cut = min(cut, len(trace) - 1)
    original = make_policy(behavior, config)
    rng = random.Random(7)
    assert replay(original, trace[:cut], rng) == [list(s.assignments) for s in trace[:cut]]
    restored = roundtrip(original, behavior, config)
    twin_rng = random.Random()
    twin_rng.setstate(rng.getstate())
    expected = [list(s.assignments) for s in trace[cut:]]
    assert replay(original, trace[cut:], rng) == expected
    assert replay(restored, trace[cut:], twin_rng) == expected
    assert restored.export() == original.export()
    assert json.loads(json.dumps(original.export())) == original.export()


def fingerprint() -> str:
    """Every behaviour's full decision trace in the scenario, as text (for other processes)."""
    config = PolicyConfig()
    lines = []
    for behavior in ALL_BEHAVIORS:
        result = simulate(
            make_policy(behavior, config),
            SCENARIO_AGENTS,
            SCENARIO_PARTITIONS,
            config=config,
            seed=3,
            tick_s=1.0,
        )
        lines.append(f"{behavior.value} {result.makespan!r} {sorted(result.winners.items())}")
        lines.extend(repr(step.assignments) for step in result.steps)
    return "\n".join(lines)


def test_decisions_do_not_depend_on_the_process() -> None:
    """Same trace under different string-hash salts (PYTHONHASHSEED), as after a worker restart."""
    code = "from tests.swarm.test_policy_properties import fingerprint; print(fingerprint())"
    outputs = set()
    for salt in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": salt}
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(done.stdout)
    assert outputs == {fingerprint() + "\n"}
