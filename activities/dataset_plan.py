"""``orchestration.plan_dataset``: split a dataset file into partitions of rows.

CSV and JSONL are split on record boundaries by one streaming pass over the bytes (no row is
parsed but the CSV header): a newline ends a record unless it lies inside a quoted CSV field
(an odd number of ``"`` since the record began), and blank lines are not records. The plan
keeps the byte offset where each partition starts (planning holds 8 bytes per row in
memory while it runs). Parquet is planned from its footer only (row count and schema).
Requested columns are checked against the CSV header or the Parquet schema here, before any
partition runs; JSONL rows are checked as they are read.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import logging
import math
import operator
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow.parquet as pq
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.dataset_files import DatasetError, file_size, open_file
from workflows.swarm_files import (
    DEFAULT_ROWS_PER_PARTITION,
    MAX_DATASET_PARTITIONS,
    PLAN_DATASET_ACTIVITY,
    DatasetPlan,
    DatasetRef,
    DatasetSource,
    PlanDataset,
    pack_offsets,
)

__all__ = ["INVALID_SOURCE", "plan_dataset", "plan_dataset_activity", "record_ends"]

log = logging.getLogger(__name__)

INVALID_SOURCE = "InvalidSource"
"""Error type of a dataset that cannot be split (a permanent failure of the plan)."""
_CHUNK = 8 << 20
_NOT_QUOTE_OR_NEWLINE = bytes(b for b in range(256) if b not in b'"\n')
_BEAT_S = 2.0


def _has_blank(data: bytes) -> bool:
    return data.startswith((b"\n", b"\r\n")) or b"\n\n" in data or b"\n\r\n" in data


def record_ends(chunks: Iterable[bytes], *, quoted: bool) -> array[int]:
    """The offset just past each record (its newline, or the data's end).

    ``quoted``: CSV rules (a newline inside a quoted field continues the record). Blank
    lines are skipped. Lines are measured and their quotes counted at C speed; Python looks
    only at the lines with an odd number of quotes (they open or close a quoted newline)
    and, when there are any, at blank ones.
    """
    ends: array[int] = array("q")
    offset = 0
    tail = b""
    in_quotes = False
    for chunk in chunks:
        data = tail + chunk if tail else chunk
        lines = data.split(b"\n")
        tail = lines.pop()
        sums = list(itertools.accumulate(
            map(operator.add, map(len, lines), itertools.repeat(1)), initial=offset))  # fmt: skip
        del sums[0]  # sums[i]: the offset past line i's newline
        toggles = _odd_quote_lines(data, len(lines)) if quoted and b'"' in data else []
        kept, in_quotes = _outside_quotes(len(lines), toggles, in_quotes)
        blank = _has_blank(data)
        for first, stop in kept:
            if blank:
                ends.extend(sums[i] for i in range(first, stop) if lines[i] not in (b"", b"\r"))
            else:
                ends.extend(sums[first:stop])
        offset = sums[-1] if sums else offset
    if in_quotes or tail.strip(b"\r"):
        ends.append(offset + len(tail))
    return ends


def _odd_quote_lines(data: bytes, count: int) -> list[int]:
    """The indexes of ``data``'s first ``count`` lines that hold an odd number of quotes."""
    pieces = data.translate(None, delete=_NOT_QUOTE_OR_NEWLINE).split(b"\n")[:count]
    parity = bytes(map(operator.and_, map(len, pieces), itertools.repeat(1)))
    found, at = [], parity.find(1)
    while at >= 0:
        found.append(at)
        at = parity.find(1, at + 1)
    return found


def _outside_quotes(
    count: int, toggles: list[int], in_quotes: bool
) -> tuple[list[tuple[int, int]], bool]:
    """The ranges of lines (of ``count``) after which no quoted field is open, given the
    lines that toggle the state; and the state after the last line."""
    odd = len(toggles) % 2 == 1
    if in_quotes:  # kept: [t0, t1), [t2, t3), ...
        starts, stops = toggles[0::2], toggles[1::2] + ([count] if odd else [])
    else:  # kept: [0, t0), [t1, t2), ...
        starts, stops = [0, *toggles[1::2]], toggles[0::2] + ([] if odd else [count])
    kept = [(a, b) for a, b in zip(starts, stops, strict=True) if a < b]
    return kept, in_quotes != odd


def _chunks(handle: Any, size: int) -> Iterator[bytes]:
    position = 0
    while position < size:
        chunk = handle.read_at(min(_CHUNK, size - position), position)
        if not chunk:
            break
        position += len(chunk)
        yield bytes(chunk)


def _csv_header(handle: Any, end: int, uri: str) -> list[str]:
    raw = bytes(handle.read_at(end, 0))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"dataset {uri}: the header is not UTF-8 ({exc.reason})") from None
    header = next(csv.reader(io.StringIO(text, newline="")), [])
    if not header or any(not name.strip() for name in header):
        raise DatasetError(f"dataset {uri}: the first line is not a header of column names")
    if len(set(header)) != len(header):
        repeated = sorted({n for n in header if header.count(n) > 1})
        raise DatasetError(f"dataset {uri}: the header repeats {', '.join(repeated)}")
    return header


def _check_columns(uri: str, wanted: list[str] | None, have: list[str], where: str) -> None:
    missing = [c for c in wanted or () if c not in have]
    if missing:
        shown = ", ".join(have[:20]) + (", ..." if len(have) > 20 else "")
        raise DatasetError(
            f"dataset {uri}: the {where} lacks column(s) {', '.join(missing)} (it has: {shown})"
        )


def _partitions(rows: int, source: DatasetSource, partitions: int | None) -> tuple[int, int | None]:
    """``(partitions, rows_per_partition or None for equal parts)``."""
    if partitions is not None:
        if partitions > rows:
            raise DatasetError(
                f"dataset {source.uri}: {rows:,} rows cannot fill data_partitions={partitions:,}"
            )
        return partitions, None
    per = source.rows_per_partition or DEFAULT_ROWS_PER_PARTITION
    return math.ceil(rows / per), per


def plan_dataset(request: PlanDataset) -> DatasetPlan:
    """Split ``request.source`` (see the module docstring).

    Raises:
        DatasetError: no such file, unreadable, no rows, a missing column, too many
            partitions (``permanent`` says whether retrying can help).
    """
    source = request.source
    uri, endpoint = source.uri, source.endpoint_url
    size = file_size(uri, endpoint)
    assert source.format is not None
    header: list[str] | None = None
    offsets: list[int] | None = None
    handle = open_file(uri, endpoint)
    try:
        if source.format == "parquet":
            try:
                metadata = pq.ParquetFile(handle).metadata
            except Exception as exc:  # pyarrow raises ArrowInvalid and OSError alike
                raise DatasetError(f"dataset {uri}: not a Parquet file: {exc}") from None
            names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
            _check_columns(uri, source.columns, names, "Parquet schema")
            rows = metadata.num_rows
        else:
            ends = record_ends(_chunks(handle, size), quoted=source.format == "csv")
            starts: array[int] = array("q", [0])
            if source.format == "csv":
                if not ends:
                    raise DatasetError(f"dataset {uri}: the file is empty (no header)")
                header = _csv_header(handle, ends[0], uri)
                _check_columns(uri, source.columns, header, "header")
                starts = array("q", ends[:1])
                ends = ends[1:]
            rows = len(ends)
    finally:
        handle.close()
    if rows == 0:
        raise DatasetError(f"dataset {uri}: no rows")
    count, per = _partitions(rows, source, request.partitions)
    if count > MAX_DATASET_PARTITIONS:
        raise DatasetError(
            f"dataset {uri}: {rows:,} rows make {count:,} partitions, more than "
            f"{MAX_DATASET_PARTITIONS:,}: raise rows_per_partition"
        )
    plan = DatasetPlan(
        ref=DatasetRef(
            uri=uri,
            format=source.format,
            endpoint_url=endpoint,
            header=header,
            columns=source.columns,
            size=size,
        ),
        rows=rows,
        partitions=count,
        rows_per_partition=per,
    )
    if source.format != "parquet":
        # Partition p starts where the record before its first row ends.
        offsets = [starts[0] if first == 0 else ends[first - 1]
                   for first, _ in map(plan.row_range, range(count))]  # fmt: skip
        plan.offsets = pack_offsets(offsets)
    return plan


def plan_dataset_activity() -> Callable[[PlanDataset], Any]:
    """The activity (on the orchestration worker): a ``DatasetError`` is non-retryable
    ``InvalidSource`` when permanent, else retried by the workflow's policy. The file is
    read in a thread; the activity heartbeats meanwhile."""

    @activity.defn(name=PLAN_DATASET_ACTIVITY)
    async def plan(request: PlanDataset) -> DatasetPlan:
        started = time.perf_counter()
        work = asyncio.ensure_future(asyncio.to_thread(plan_dataset, request))
        while not work.done():
            await asyncio.wait({work}, timeout=_BEAT_S)
            activity.heartbeat()
        try:
            plan = work.result()
        except DatasetError as exc:
            raise ApplicationError(
                str(exc), type=INVALID_SOURCE, non_retryable=exc.permanent
            ) from None
        log.info(
            "swarm %s: planned %s: %s rows in %s partitions (%.0f ms)",
            request.swarm_id, request.source.uri, f"{plan.rows:,}", f"{plan.partitions:,}",
            (time.perf_counter() - started) * 1000,
        )  # fmt: skip
        return plan

    return plan
