"""``ScatterGather``: one request to several agents over the bus, their replies aggregated.

The request goes to each target's inbox with one correlation id; replies are collected until
every target answered or the timeout passed, then reduced by an
:class:`~bus.aggregation.AggregationStrategy` over the reply payloads' ``field`` (``value`` by
default; see :mod:`bus.aggregation`). ERROR replies and silent agents do not count towards
``min_responses``; both are reported in the result, and the router's outlier detection hears
about every agent's outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.message import Message, MessageType
from bus.message_bus import MessageBus
from orchestration.core.exceptions import AggregationError, RoutingError, ValidationError
from registry.routing.aggregation import AggregationResult, AggregationStrategy, Reply, aggregate
from registry.routing.metrics import scatter_gather_duration_ms
from registry.routing.router import MessageRouter
from registry.routing.types import RoutingStrategy

__all__ = ["ScatterGather", "ScatterGatherError", "ScatterResult"]


class ScatterGatherError(AggregationError):
    """Fewer usable replies than ``min_responses``.

    Attributes:
        result: what did come (its ``responses``, ``failed`` and ``silent``).
    """

    def __init__(self, message: str, result: ScatterResult) -> None:
        super().__init__(message)
        self._result = result

    @property
    def result(self) -> ScatterResult:
        return self._result


@dataclass(frozen=True)
class ScatterResult(AggregationResult):
    """An :class:`AggregationResult` plus who failed, who stayed silent, and how long it took.

    Attributes:
        failed: agent id → the error its ERROR reply carried.
        silent: agents that did not answer within the timeout, in target order.
        duration_ms: from sending to the last reply (or the timeout).
    """

    failed: dict[str, str] = field(default_factory=dict)
    silent: list[str] = field(default_factory=list)
    duration_ms: float = 0.0


class ScatterGather:
    """The quick reference's ``ScatterGather(router)``; the router's ``bus`` sends."""

    def __init__(self, router: MessageRouter, bus: MessageBus | None = None) -> None:
        self._router = router
        chosen = bus if bus is not None else router.bus
        if chosen is None:
            raise RoutingError(
                "ScatterGather needs a MessageBus: build the router as MessageRouter(bus)"
            )
        self._bus = chosen

    async def execute(
        self,
        request: Message,
        target_agents: Sequence[str] | None = None,
        aggregation_strategy: AggregationStrategy | str = AggregationStrategy.ALL,
        min_responses: int = 1,
        timeout_ms: int = 5000,
        *,
        field: str = "value",
        custom: Callable[[list[Reply]], Any] | None = None,
    ) -> ScatterResult:
        """Scatter ``request`` to ``target_agents`` (default: the router's BROADCAST route).

        Raises:
            ScatterGatherError: fewer than ``min_responses`` RESPONSE replies came (the text
                says how many, and who failed or stayed silent).
            AggregationError: no reply had a usable ``field`` for a numeric strategy.
            ValidationError: no targets, or ``min_responses`` outside 1..len(targets).
            RoutingError: no targets given and the router has none for the request.
        """
        targets = list(dict.fromkeys(target_agents or []))
        if not targets:
            if target_agents is not None:
                raise ValidationError(
                    "target_agents is empty",
                    errors=[{"field": "target_agents", "problem": "empty"}],
                )
            targets = await self._router.route(request, RoutingStrategy.BROADCAST)
        if not 1 <= min_responses <= len(targets):
            raise ValidationError(
                f"min_responses must be between 1 and the {len(targets)} targets "
                f"(got {min_responses})",
                errors=[{"field": "min_responses", "problem": "out of range"}],
            )
        strategy = AggregationStrategy(aggregation_strategy)
        expected = min_responses if strategy is AggregationStrategy.FIRST else len(targets)
        started = time.perf_counter()
        replies = await self._bus.scatter_gather(request, expected, timeout_ms, recipients=targets)
        duration_ms = (time.perf_counter() - started) * 1000
        scatter_gather_duration_ms.observe(duration_ms)
        answered = {reply.sender_id for reply in replies}
        good = [r for r in replies if r.message_type is not MessageType.ERROR]
        failed = {
            r.sender_id: str(r.payload.get("error", "unknown error"))
            for r in replies
            if r.message_type is MessageType.ERROR
        }
        silent = [agent for agent in targets if agent not in answered]
        for reply in good:
            self._router.record_result(reply.sender_id, success=True)
        for agent in [*failed, *silent]:
            self._router.record_result(agent, success=False)
        if len(good) < min_responses:
            partial = ScatterResult(
                strategy=strategy,
                value=None,
                responses=len(good),
                used=0,
                skipped={},
                by_agent={r.sender_id: r.payload for r in good},
                failed=failed,
                silent=silent,
                duration_ms=duration_ms,
            )
            raise ScatterGatherError(
                f"scatter-gather got {len(good)} of {len(targets)} responses, fewer than "
                f"min_responses={min_responses} (failed: {', '.join(failed) or 'none'}; "
                f"silent: {', '.join(silent) or 'none'})",
                partial,
            )
        result = aggregate(
            strategy, [Reply(r.sender_id, r.payload) for r in good], field=field, custom=custom
        )
        return ScatterResult(
            **{name: getattr(result, name) for name in AggregationResult.__dataclass_fields__},
            failed=failed,
            silent=silent,
            duration_ms=duration_ms,
        )
