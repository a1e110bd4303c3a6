"""A generated but realistic supplier dataset, and the emissions calculation over it.

Every partition of the job is 100 suppliers of one region (so CLUSTERING has groups to keep
together) with mixed sectors and spend, generated from the partition number alone: any agent
can produce partition ``i`` without the data travelling through Temporal. Emissions are
spend (USD, in cents) x the spend-based factor of the supplier's sector and region
(``factors.json``), rounded to the cent of a kilogram, added as decimals: the swarm's total
equals the sequential total exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path

__all__ = [
    "REGIONS",
    "SUPPLIERS_PER_PARTITION",
    "Supplier",
    "factors",
    "partition_emissions",
    "partition_region",
    "sequential_total",
    "suppliers",
]

SUPPLIERS_PER_PARTITION = 100
REGIONS = ("EU", "US", "CN", "IN", "BR")
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Supplier:
    supplier_id: str
    sector: str
    region: str
    spend_cents: int


@cache
def factors() -> dict[str, dict[str, Decimal]]:
    """kg CO2e per USD, by sector then region (``factors.json``)."""
    table = json.loads((Path(__file__).parent / "factors.json").read_text())["factors"]
    return {s: {r: Decimal(str(f)) for r, f in by_region.items()} for s, by_region in table.items()}


def partition_region(partition: int) -> str:
    return REGIONS[partition % len(REGIONS)]


def suppliers(partition: int, count: int = SUPPLIERS_PER_PARTITION) -> list[Supplier]:
    """Partition ``partition``'s suppliers: the same list on every machine."""
    rng = random.Random(f"greenlang-suppliers/{partition}")
    sectors = sorted(factors())
    region = partition_region(partition)
    return [
        Supplier(
            supplier_id=f"S{partition:06d}-{n:03d}",
            sector=rng.choice(sectors),
            region=region,
            # log-normal-ish spend: most suppliers small, a few large (USD 100 .. ~2M)
            spend_cents=int(100_00 * rng.lognormvariate(2.0, 1.6)),
        )
        for n in range(count)
    ]


def supplier_emissions(supplier: Supplier) -> Decimal:
    """kg CO2e, rounded to 0.01 kg."""
    factor = factors()[supplier.sector][supplier.region]
    return (Decimal(supplier.spend_cents) / 100 * factor).quantize(_CENT, ROUND_HALF_EVEN)


def partition_emissions(partition: int, count: int = SUPPLIERS_PER_PARTITION) -> Decimal:
    return sum((supplier_emissions(s) for s in suppliers(partition, count)), Decimal(0))


def sequential_total(partitions: int, count: int = SUPPLIERS_PER_PARTITION) -> Decimal:
    """The whole job computed directly, one supplier after another: the reference."""
    return sum((partition_emissions(p, count) for p in range(partitions)), Decimal(0))
