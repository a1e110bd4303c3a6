"""How a swarm's data becomes partitions, and what each partition call receives.

Pure (workflow code uses it). Inline items are split into contiguous chunks, the first
``len(items) % data_partitions`` one item larger; a source's descriptors are taken as they
come; indexed partitions carry only their index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration.core.exceptions import ValidationError
from workflows.chunks import chunk_bounds
from workflows.swarm_files import DatasetPlan
from workflows.swarm_models import SwarmTask

__all__ = [
    "PartitionPlan",
    "SourceError",
    "plan_dataset",
    "plan_indexed",
    "plan_inline",
    "plan_source",
]


class SourceError(ValidationError):
    """A source action's answer is not a list of partition descriptors."""


@dataclass(frozen=True)
class PartitionPlan:
    """Items and key per partition; ``data`` per partition for sources; a dataset's plan."""

    items: list[int]
    keys: list[str | None]
    data: list[dict[str, Any]] | None = None
    dataset: DatasetPlan | None = None

    def descriptor(self, task: SwarmTask, partition: int) -> dict[str, Any]:
        """What the action receives for ``partition``."""
        described: dict[str, Any] = {
            "partition": partition,
            "of": len(self.items),
            "objective": task.objective,
            "params": task.params,
            "key": self.keys[partition],
        }
        if task.items is not None:
            start, stop = chunk_bounds(len(task.items), len(self.items), partition)
            described["items"] = task.items[start:stop]
        elif self.data is not None:
            described["data"] = self.data[partition]
        elif self.dataset is not None:
            described.update(self.dataset.locator(partition))
        return described

    def reference(self, task: SwarmTask, partition: int) -> dict[str, Any]:
        """Where ``partition``'s data is, without the data (for the manifest): a dataset's
        row and byte range, inline items' index range, a source's descriptor data."""
        if self.dataset is not None:
            return self.dataset.locator(partition)
        if task.items is not None:
            return {"items": list(chunk_bounds(len(task.items), len(self.items), partition))}
        if self.data is not None:
            return {"data": self.data[partition]}
        return {}


def plan_dataset(plan: DatasetPlan) -> PartitionPlan:
    return PartitionPlan(items=plan.items(), keys=[None] * plan.partitions, dataset=plan)


def plan_inline(task: SwarmTask) -> PartitionPlan:
    assert task.items is not None
    n = task.partitions
    bounds = [chunk_bounds(len(task.items), n, i) for i in range(n)]
    keys: list[str | None] = []
    for start, _ in bounds:
        first = task.items[start]
        key = (
            first.get(task.partition_key)
            if task.partition_key and isinstance(first, dict)
            else None
        )
        keys.append(None if key is None else str(key))
    return PartitionPlan(items=[stop - start for start, stop in bounds], keys=keys)


def plan_indexed(task: SwarmTask) -> PartitionPlan:
    n = task.partitions
    return PartitionPlan(items=[task.items_per_partition or 1] * n, keys=[None] * n)


def plan_source(task: SwarmTask, answer: Any) -> PartitionPlan:
    """The plan from a source action's answer: a list of ``data_partitions`` descriptors.

    Raises:
        SourceError: not a list of that many dicts, or a descriptor's ``items`` is not a
            positive integer.
    """
    if not isinstance(answer, list) or len(answer) != task.partitions:
        got = f"{len(answer)} descriptors" if isinstance(answer, list) else type(answer).__name__
        raise SourceError(
            f"the source must return a list of data_partitions={task.data_partitions} "
            f"descriptors, not {got}"
        )
    items, keys, data = [], [], []
    for index, descriptor in enumerate(answer):
        if not isinstance(descriptor, dict):
            raise SourceError(f"descriptor {index} is {type(descriptor).__name__}, not a dict")
        count = descriptor.get("items", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise SourceError(f"descriptor {index}: items must be a positive integer")
        key = descriptor.get("key")
        items.append(count)
        keys.append(None if key is None else str(key))
        data.append(descriptor.get("data", {}))
    return PartitionPlan(items=items, keys=keys, data=data)
