"""``MessageRouter``: choose target agents for a message from route rules.

Decisions are computed in memory: rules (with conditions compiled once, when a rule is
added), the registry's health snapshot, agents' reported loads and the outlier detector.
The database is the source of truth for rules, not the hot path: a background refresh
picks up rule changes made by any router instance, and health changes, about every second.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from bus.message import MESSAGE_NAMES, Message
from bus.message_bus import MessageBus
from orchestration.core.exceptions import RoutingError
from orchestration.core.expressions import Condition, compile_condition
from orchestration.core.lifecycle import cancel_and_wait
from registry.routing.base import Strategy
from registry.routing.ejection import OutlierDetector
from registry.routing.factory import make_strategy
from registry.routing.listcache import CandidateList
from registry.routing.metrics import routing_latency_ms, routing_messages_total
from registry.routing.rules import HealthSource, RouteRule, RuleStore
from registry.routing.types import Candidate, LoadInfo, RouteRequest, RoutingStrategy

__all__ = ["MessageRouter"]

log = logging.getLogger(__name__)


class _Unroutable(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class _CompiledRule:
    __slots__ = ("condition", "rule")

    def __init__(self, rule: RouteRule) -> None:
        self.rule = rule
        self.condition: Condition | None = (
            compile_condition(rule.condition, allowed_names=MESSAGE_NAMES)
            if rule.condition
            else None
        )

    def matches(self, context: Mapping[str, Any]) -> bool:
        return self.rule.enabled and (self.condition is None or self.condition.evaluate(context))


class MessageRouter:
    """Route messages to agents.

    Args:
        bus: the ``MessageBus`` (optional; routing itself needs no bus).
        registry: where health comes from; without one every target counts as healthy.
        rules: where rules are kept; without one they live in this process only.
        min_health: agents below this health are not candidates.
        refresh_interval_s: how often rules and health are re-read.
        rng: randomness for LEAST_LOADED and PRIORITY (seed it in tests).
        clock: monotonic seconds, for outlier ejection.
    """

    def __init__(
        self,
        bus: MessageBus | None = None,
        *,
        registry: HealthSource | None = None,
        rules: RuleStore | None = None,
        min_health: float = 0.3,
        refresh_interval_s: float = 1.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        outliers: OutlierDetector | None = None,
    ) -> None:
        self.bus = bus
        self._registry = registry
        self._store = rules
        self._min_health = min_health
        self._refresh_interval_s = refresh_interval_s
        self._rng = rng or random.Random()
        self._clock = clock
        self._outliers = outliers or OutlierDetector()
        self._rules: list[_CompiledRule] = []
        self._revision = 0
        self._health: dict[str, float] | None = None  # None: no registry, all healthy
        # The rules' targets, and those whose health was last read: a rule with a target
        # outside it makes the next route() read health first.
        self._targets: frozenset[str] = frozenset()
        self._health_covers: frozenset[str] = frozenset()
        self._loads: dict[str, LoadInfo] = {}
        self._strategies: dict[tuple[str, RoutingStrategy], Strategy] = {}
        # Candidate lists per set of matched rules, and where each agent sits in them, so a
        # load report replaces one entry instead of rebuilding lists of hundreds of agents.
        self._candidates: dict[str, CandidateList] = {}
        self._slots: dict[str, list[tuple[CandidateList, int]]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._pending_writes: set[asyncio.Task[Any]] = set()
        self._install([], 0)

    # -- lifecycle ---------------------------------------------------------------------

    async def initialize(self) -> None:
        """Load rules and health, then keep them fresh in the background."""
        await self.refresh()
        if self._refresher is None and (self._store or self._registry):
            self._refresher = asyncio.create_task(self._refresh_forever(), name="router-refresh")

    async def close(self) -> None:
        refresher, self._refresher = self._refresher, None
        await cancel_and_wait(refresher)
        await self.flush()

    async def flush(self) -> None:
        """Wait until rule changes made with ``add_route_rule`` are stored."""
        while self._pending_writes:
            await asyncio.gather(*self._pending_writes, return_exceptions=True)

    async def refresh(self) -> None:
        """Re-read rules (when their revision changed) and the health snapshot."""
        if self._store is not None:
            revision = await self._store.revision()
            if revision != self._revision:
                revision, rules = await self._store.load()
                self._install([_CompiledRule(r) for r in rules], revision)
        if self._registry is not None:
            await self._refresh_health()

    async def _refresh_health(self) -> None:
        if self._registry is None:
            return
        targets = self._targets
        health = dict(await self._registry.routable_health(targets))
        self._health_covers = targets
        if health != self._health:
            self._health = health
            self._forget_candidates()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # keep routing on the last good snapshot
                log.warning("router refresh failed, keeping the last rules and health: %s", exc)

    # -- rules -------------------------------------------------------------------------

    def add_route_rule(self, rule: RouteRule) -> None:
        """Add or replace the rule named ``rule.name``; its condition is compiled now.

        With a rule store the write happens in the background (failures are logged); use
        ``save_route_rule`` to wait for it and see its errors.

        Raises:
            RoutingError: the condition is refused (the message says why).
        """
        self._put(_CompiledRule(rule))
        if self._store is not None:
            self._track(self._store.save(rule))

    async def save_route_rule(self, rule: RouteRule) -> None:
        """Store the rule, then use it. Nothing changes if the condition or the write fails.

        Raises:
            RoutingError: the condition is refused.
            RegistryError: the store could not be written (e.g. the database is down).
        """
        compiled = _CompiledRule(rule)
        revision = self._revision
        if self._store is not None:
            revision = max(revision, await self._store.save(rule))
        self._put(compiled, revision)

    def remove_route_rule(self, name: str) -> bool:
        """Remove a rule (stored in the background, as ``add_route_rule``)."""
        if not self._drop(name):
            return False
        if self._store is not None:
            self._track(self._store.delete(name))
        return True

    async def delete_route_rule(self, name: str) -> bool:
        """Remove a rule from the store, then from this router; False if it is unknown."""
        if all(r.rule.name != name for r in self._rules):
            return False
        if self._store is not None:
            self._revision = max(self._revision, await self._store.delete(name))
        return self._drop(name)

    def _put(self, compiled: _CompiledRule, revision: int | None = None) -> None:
        name = compiled.rule.name
        kept = [r for r in self._rules if r.rule.name != name]
        self._install([*kept, compiled], self._revision if revision is None else revision)

    def _drop(self, name: str) -> bool:
        kept = [r for r in self._rules if r.rule.name != name]
        if len(kept) == len(self._rules):
            return False
        self._install(kept, self._revision)
        for key in [k for k in self._strategies if k[0] == name]:
            del self._strategies[key]
        return True

    @property
    def rules(self) -> list[RouteRule]:
        return [r.rule for r in self._rules]

    def _install(self, rules: list[_CompiledRule], revision: int) -> None:
        rules.sort(key=lambda r: (r.rule.priority, r.rule.name))
        self._rules = rules
        self._revision = revision
        # Rules whose condition is `name.get(key) == constant` are found by a dict lookup
        # instead of being evaluated one by one; the rest are evaluated in order.
        self._indexed: dict[tuple[str, str], dict[Hashable, list[_CompiledRule]]] = {}
        self._scanned: list[_CompiledRule] = []
        self._order = {id(r): n for n, r in enumerate(rules)}
        self._targets = frozenset(t for r in rules for t in r.rule.targets)
        for compiled in rules:
            if not compiled.rule.enabled:
                continue
            test = compiled.condition.equality if compiled.condition else None
            if test is None:
                self._scanned.append(compiled)
            else:
                name, key, value = test
                self._indexed.setdefault((name, key), {}).setdefault(value, []).append(compiled)
        self._forget_candidates()

    def _matching(self, context: Mapping[str, Any]) -> list[_CompiledRule]:
        """The rules ``context`` matches, in priority order."""
        matched = [r for r in self._scanned if r.matches(context)]
        for (name, key), by_value in self._indexed.items():
            source = context.get(name)
            if not isinstance(source, Mapping):
                continue
            try:
                hits = by_value.get(source.get(key))
            except TypeError:  # an unhashable value never equals a constant
                continue
            if hits:
                matched.extend(hits)
        if len(matched) > 1:
            order = self._order
            matched.sort(key=lambda r: order[id(r)])
        return matched

    def _track(self, write: Any) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(write)
        self._pending_writes.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._pending_writes.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("storing a route rule failed: %s", finished.exception())
            elif not finished.cancelled():
                self._revision = max(self._revision, int(finished.result()))

        task.add_done_callback(done)

    # -- loads and outcomes ------------------------------------------------------------

    def update_agent_load(self, agent_id: str, load: LoadInfo) -> None:
        if load.agent_id != agent_id:
            raise RoutingError(f"load for {load.agent_id!r} was reported as {agent_id!r}")
        self._loads[agent_id] = load
        for candidates, index in self._slots.get(agent_id, ()):
            candidates[index] = replace(candidates[index], load=load)
            candidates.version += 1

    def record_result(self, agent_id: str, *, success: bool) -> None:
        """Tell the outlier detector how a delivery to ``agent_id`` went."""
        now = self._clock()
        if success:
            self._outliers.record_success(agent_id, now)
        elif self._outliers.record_failure(agent_id, now):
            log.warning("agent %s ejected from routing after repeated failures", agent_id)

    # -- routing -----------------------------------------------------------------------

    async def route(self, message: Message, strategy: RoutingStrategy | None = None) -> list[str]:
        """The agents ``message`` should go to (one, or several for BROADCAST).

        Raises:
            RoutingError: no rule matches, or none of the matching rules' targets is
                registered, healthy and not ejected.
        """
        if not self._targets <= self._health_covers:  # a rule added since the last refresh
            await self._refresh_health()
        return self.route_now(message, strategy)

    def route_now(self, message: Message, strategy: RoutingStrategy | None = None) -> list[str]:
        """``route`` without awaiting: everything it needs is in memory (the health of a
        rule's targets is read by the refresh after the rule was added, or by ``route``)."""
        started = time.perf_counter()
        kind = strategy
        try:
            context = message.routing_context()
            matched = self._matching(context)
            if not matched:
                raise _Unroutable(
                    "no_rule",
                    f"no route rule matches {message.message_type.value} message "
                    f"{message.message_id} from {message.sender_id}",
                )
            first = matched[0].rule
            kind = strategy or first.strategy
            candidates = self._candidates_for(matched)
            ejected = self._outliers.ejected(self._clock())
            if ejected:
                flagged = [c for c in candidates if c.agent_id not in ejected]
                candidates = flagged or candidates  # everyone ejected: better than nothing
            if not candidates:
                raise _Unroutable(
                    "no_target",
                    f"rule {first.name!r} matched but none of its targets "
                    f"({_some(first.targets)}) is registered and healthy",
                )
            request = RouteRequest(
                rule=first.name, key=_key(first, message), priority=int(message.priority)
            )
            targets = self._strategy(first.name, kind).select(candidates, request)
        except _Unroutable as exc:
            routing_messages_total.labels(
                strategy=kind.value if kind else "none", status=exc.status
            ).inc()
            raise RoutingError(str(exc)) from None
        _routed(kind).inc()
        routing_latency_ms.observe((time.perf_counter() - started) * 1000)
        return targets

    def _candidates_for(self, matched: list[_CompiledRule]) -> list[Candidate]:
        cache_key = "\x00".join(r.rule.name for r in matched)
        cached = self._candidates.get(cache_key)
        if cached is not None:
            return cached
        weights = matched[0].rule.weights
        seen: dict[str, Candidate] = {}
        for compiled in matched:
            for agent_id in compiled.rule.targets:
                if agent_id in seen:
                    continue
                health = 1.0 if self._health is None else self._health.get(agent_id)
                if health is None or health < self._min_health:
                    continue
                seen[agent_id] = Candidate(
                    agent_id=agent_id,
                    health=health,
                    load=self._loads.get(agent_id),
                    weight=weights.get(agent_id, 1.0),
                )
        candidates = CandidateList(seen.values())
        self._candidates[cache_key] = candidates
        for index, candidate in enumerate(candidates):
            self._slots.setdefault(candidate.agent_id, []).append((candidates, index))
        return candidates

    def _forget_candidates(self) -> None:
        self._candidates.clear()
        self._slots.clear()

    def _strategy(self, rule: str, kind: RoutingStrategy) -> Strategy:
        strategy = self._strategies.get((rule, kind))
        if strategy is None:
            strategy = self._strategies[(rule, kind)] = make_strategy(kind, rng=self._rng)
        return strategy


@functools.cache
def _routed(kind: RoutingStrategy) -> Any:
    """The ``routed`` counter of ``kind`` (a label lookup is a few µs of every decision)."""
    return routing_messages_total.labels(strategy=kind.value, status="routed")


def _key(rule: RouteRule, message: Message) -> str | None:
    field = rule.affinity_key
    if field.startswith("payload."):
        value = message.payload.get(field[len("payload.") :])
        return None if value is None else str(value)
    value = getattr(message, field)
    return None if value is None else str(value)


def _some(names: Sequence[str], shown: int = 5) -> str:
    """The first few names, and how many there are in all when that is more."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])}, ... ({len(names)} in all)"
