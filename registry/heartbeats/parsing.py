"""Heartbeat metrics parsed on the hot path: the usual payload without the general checks.

A registry service takes tens of thousands of heartbeats a second; nearly all carry a plain
dict of floats in range. Those are parsed here with a few type and range comparisons;
anything else goes through :meth:`registry.records.HeartbeatMetrics.from_mapping`, which
then accepts it the same way or raises its usual :class:`ValidationError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from registry.records import HeartbeatMetrics

__all__ = ["parse_metrics"]

_HIGHEST = (("cpu_usage", 1.0), ("error_rate", 1.0), ("response_time_ms", math.inf))


def parse_metrics(metrics: Mapping[str, Any] | None) -> HeartbeatMetrics:
    """What ``HeartbeatMetrics.from_mapping(metrics)`` returns, faster for plain numbers.

    Raises:
        ValidationError: as ``from_mapping`` does.
    """
    if type(metrics) is not dict:
        return HeartbeatMetrics.from_mapping(metrics)
    values: dict[str, float] = {}
    for name, highest in _HIGHEST:
        value = metrics.get(name)
        if value is None:
            continue
        kind = type(value)
        # Exactly float or int (not bool), finite, within bounds; else the general path.
        if (kind is float or kind is int) and 0.0 <= value <= highest and value != math.inf:
            values[name] = float(value)
        else:
            return HeartbeatMetrics.from_mapping(metrics)
    return HeartbeatMetrics(**values)
