"""A supplier export as a CSV file, and the per-row emissions calculation over it.

``python -m examples.swarm.supplier_csv suppliers.csv --rows 100000`` writes what a
procurement system exports: ``supplier_id, name, sector, region, spend_usd``, names with
commas and the odd line break inside quotes, and a few deliberately bad rows (one in
``BAD_EVERY``: a spend that is not a number, a negative spend, an unknown sector, a record
missing a field). The ``calculate_rows`` action (``examples/swarm/agents.py``) prices each
row (spend x the sector and region's factor, to the cent of a kilogram) and rejects the bad
ones with ``ctx.reject_rows``; ``csv_total`` is the same calculation done sequentially over
the file, the reference a swarm's total must equal exactly.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from examples.swarm.suppliers import REGIONS, factors

__all__ = ["BAD_EVERY", "COLUMNS", "csv_total", "row_emissions", "write_suppliers_csv"]

COLUMNS = ("supplier_id", "name", "sector", "region", "spend_usd")
BAD_EVERY = 997
"""One row in this many is bad (the kinds in turn)."""
_CENT = Decimal("0.01")
_NAMES = ("Nordic Steel", "Acme Components", "Delta Logistics", "Sol Agro", "Han Chemicals",
          "Rio Cement", "Indus Textiles", "Pacific Electronics")  # fmt: skip
_SUFFIXES = (" AB", ", Inc.", " Ltd", " GmbH", ' "Group"', " S.A.", "")
LINE_BREAK_EVERY = 50
"""One name in this many has a line break (a quoted newline in the CSV)."""


def _rows(count: int, seed: int, bad_every: int | None) -> Iterator[list[str]]:
    rng = random.Random(f"greenlang-supplier-csv/{seed}")
    sectors = sorted(factors())
    for n in range(count):
        row = [
            f"S{n:08d}",
            rng.choice(_NAMES)
            + ("\nHolding" if n % LINE_BREAK_EVERY == 7 else rng.choice(_SUFFIXES)),
            rng.choice(sectors),
            rng.choice(REGIONS),
            format(Decimal(int(100_00 * rng.lognormvariate(2.0, 1.6))) / 100, "f"),
        ]
        if bad_every is not None and n % bad_every == bad_every - 1:
            kind = (n // bad_every) % 4
            if kind == 0:
                row[4] = "n/a"
            elif kind == 1:
                row[4] = "-" + row[4]
            elif kind == 2:
                row[2] = "unknown-sector"
            else:
                row = row[:4]  # a field missing: the reader rejects it
        yield row


def write_suppliers_csv(
    path: str | Path, rows: int, *, seed: int = 0, bad_every: int | None = BAD_EVERY
) -> Path:
    """Write ``rows`` suppliers to ``path``, one in ``bad_every`` bad (None: none); return
    it."""
    target = Path(path)
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(_rows(rows, seed, bad_every))
    return target


def row_emissions(row: dict[str, Any]) -> Decimal | str:
    """kg CO2e of one supplier row, to 0.01 kg; or why the row cannot be priced."""
    by_region = factors().get(str(row.get("sector")))
    if by_region is None:
        return f"unknown sector {row.get('sector')!r}"
    factor = by_region.get(str(row.get("region")))
    if factor is None:
        return f"unknown region {row.get('region')!r}"
    try:
        spend = Decimal(str(row.get("spend_usd")))
    except InvalidOperation:
        return f"spend_usd {row.get('spend_usd')!r} is not a number"
    if not spend.is_finite() or spend < 0:
        return f"spend_usd {row.get('spend_usd')!r} is not a non-negative amount"
    return (spend * factor).quantize(_CENT, ROUND_HALF_EVEN)


def csv_total(path: str | Path) -> tuple[Decimal, int]:
    """The file's total and how many rows could not be priced or read, one row after
    another: the reference."""
    total, bad = Decimal(0), 0
    with Path(path).open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader)
        for fields in reader:
            if not fields:
                continue
            priced = (
                row_emissions(dict(zip(header, fields, strict=True)))
                if len(fields) == len(header)
                else "wrong field count"
            )
            if isinstance(priced, Decimal):
                total += priced
            else:
                bad += 1
    return total, bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_suppliers_csv(args.path, args.rows, seed=args.seed)
    total, bad = csv_total(args.path)
    print(f"wrote {args.rows:,} suppliers to {args.path} ({bad:,} bad rows); "
          f"sequential total {total} kg CO2e")  # fmt: skip


if __name__ == "__main__":
    main()
