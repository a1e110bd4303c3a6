"""Reading one partition's rows from its dataset (on the agent, before the handler runs).

A partition's descriptor says which rows (``rows``: ``[first, stop)``) and, for CSV and
JSONL, which bytes (``bytes``: ``[start, end)``, aligned to records by the plan). CSV rows
become dicts keyed by the header (values are strings, as the file has them), JSONL rows are
the parsed values, Parquet rows are dicts of Python values. With ``columns`` only those
fields are kept.

A row that cannot be used is *rejected*, not fatal: a CSV record with the wrong number of
fields or bytes that are not UTF-8, a JSONL line that is not JSON (or, with ``columns``, not
an object holding them). The handler gets the other rows; the rejections (row number,
reason) go to the swarm's manifest. A file whose size changed since it was planned, or whose
bytes no longer hold the planned number of records, fails the partition: the plan no longer
describes it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from activities.dataset_files import DatasetError, open_file
from workflows.swarm_files import DatasetRef

__all__ = ["MAX_REASON", "DatasetReader", "PartitionRows"]

MAX_REASON = 300
"""A rejection's reason is cut to this many characters."""


@dataclass
class PartitionRows:
    """The rows the handler gets, their row numbers, and the rows rejected."""

    items: list[Any] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def keep(self, number: int, row: Any) -> None:
        self.items.append(row)
        self.numbers.append(number)

    def reject(self, number: int, reason: str) -> None:
        self.rejected.append({"row": number, "reason": reason[:MAX_REASON]})


class DatasetReader:
    """Reads partitions of one dataset through one open file (an assignment's batch).

    The file is opened on the first read and its size checked once; close it with
    ``close()`` or a ``with`` block. ``local``: reads are fast enough to make on the event
    loop (an object store's are not: run them in a thread).
    """

    def __init__(self, ref: DatasetRef) -> None:
        self.ref = ref
        self.local = not ref.uri.startswith("s3://")
        self._handle: Any = None

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    def _open(self) -> Any:
        if self._handle is None:
            ref = self.ref
            handle = open_file(ref.uri, ref.endpoint_url)
            if handle.size() != ref.size:
                size = handle.size()
                handle.close()
                raise DatasetError(
                    f"dataset {ref.uri}: its size is {size:,} bytes, {ref.size:,} when the "
                    "swarm planned it: the file changed; start a new swarm"
                )
            self._handle = handle
        return self._handle

    def rows(self, locator: dict[str, Any]) -> PartitionRows:
        """The rows of the partition ``locator`` describes (see the module docstring).

        Raises:
            DatasetError: the file cannot be read, or no longer matches its plan.
        """
        ref = self.ref
        first, stop = (int(n) for n in locator["rows"])
        handle = self._open()
        if ref.format == "parquet":
            return _parquet_rows(handle, ref, first, stop)
        start, end = (int(n) for n in locator["bytes"])
        raw = bytes(handle.read_at(end - start, start))
        rows = _csv_rows(raw, ref, first) if ref.format == "csv" else _jsonl_rows(raw, ref, first)
        found = len(rows.items) + len(rows.rejected)
        if found != stop - first:
            raise DatasetError(
                f"dataset {ref.uri}: bytes {start:,}-{end:,} hold {found:,} records, the plan "
                f"says {stop - first:,}: the file changed; start a new swarm"
            )
        return rows


def _csv_rows(raw: bytes, ref: DatasetRef, first: int) -> PartitionRows:
    header = ref.header or []
    wanted = ref.columns
    rows = PartitionRows()
    try:
        text, clean = raw.decode("utf-8"), True
    except UnicodeDecodeError:  # rare: find the records that hold the bad bytes
        text, clean = raw.decode("utf-8", errors="surrogateescape"), False
    width = len(header)
    number = first
    for fields in csv.reader(io.StringIO(text, newline="")):
        if not fields:
            continue  # a blank line: not a record (as the plan counted)
        if len(fields) != width:
            rows.reject(number, f"has {len(fields)} fields, the header has {width}")
        elif not clean and any(_not_utf8(value) for value in fields):
            rows.reject(number, "is not UTF-8")
        else:
            record = dict(zip(header, fields, strict=True))
            rows.keep(number, {c: record[c] for c in wanted} if wanted else record)
        number += 1
    return rows


def _not_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _jsonl_rows(raw: bytes, ref: DatasetRef, first: int) -> PartitionRows:
    wanted = ref.columns
    rows = PartitionRows()
    number = first
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            rows.reject(number, f"is not JSON: {exc}")
        else:
            if wanted is None:
                rows.keep(number, value)
            elif not isinstance(value, dict):
                rows.reject(number, f"is a JSON {type(value).__name__}, not an object")
            elif missing := [c for c in wanted if c not in value]:
                rows.reject(number, f"lacks {', '.join(missing)}")
            else:
                rows.keep(number, {c: value[c] for c in wanted})
        number += 1
    return rows


def _parquet_rows(handle: Any, ref: DatasetRef, first: int, stop: int) -> PartitionRows:
    try:
        parquet = pq.ParquetFile(handle)
        metadata = parquet.metadata
        groups, group_start, position = [], None, 0
        for index in range(metadata.num_row_groups):
            count = metadata.row_group(index).num_rows
            if position < stop and position + count > first:
                groups.append(index)
                group_start = position if group_start is None else group_start
            position += count
        table = parquet.read_row_groups(groups, columns=ref.columns)
    except OSError as exc:
        raise DatasetError(f"dataset {ref.uri}: cannot read rows {first}-{stop}: {exc}") from None
    rows = PartitionRows()
    offset = first - (group_start or 0)
    for number, row in enumerate(table.slice(offset, stop - first).to_pylist(), start=first):
        rows.keep(number, row)
    if len(rows.items) != stop - first:
        raise DatasetError(
            f"dataset {ref.uri}: rows {first}-{stop} are not all in the file: it changed"
        )
    return rows
