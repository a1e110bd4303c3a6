"""A swarm's files: the dataset it reads (``DatasetSource``, split into a ``DatasetPlan``)
and the manifest it writes (``ResultWriter``).

``SwarmTask(source=DatasetSource(uri=..., format=..., rows_per_partition=100))`` names a CSV,
JSONL or Parquet file on local disk (a path or ``file://`` URI, seen by the workers) or in an
S3-compatible object store (``s3://bucket/key``; ``endpoint_url`` or ``ORCH_S3_ENDPOINT_URL``,
credentials from the usual ``AWS_*`` variables). The orchestration worker's
``orchestration.plan_dataset`` activity splits it (``activities/dataset_plan.py``) into a
``DatasetPlan``: the row count and, for CSV and JSONL, the byte offset where each partition
starts, aligned to records. Each swarm assignment carries the plan's ``DatasetRef`` once and
each partition its row and byte range; the agent reads the rows itself
(``activities/dataset_rows.py``), so no row travels through workflow history.

``SwarmTask(result_writer=ResultWriter(uri="file:///data/runs"))``: at the end the
orchestration worker writes ``<uri>/<swarm id>/manifest.json`` (``activities/swarm_manifest.py``:
every failed partition with its rows, attempts, agents and last error; the rejected rows;
per-agent statistics; the reduction and its accumulator, from which a redrive goes on).

Pure (workflow code uses it).
"""

from __future__ import annotations

import base64
import zlib
from array import array
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, model_validator

from workflows.chunks import chunk_bounds

__all__ = [
    "DATASET_FORMATS",
    "MAX_DATASET_PARTITIONS",
    "PLAN_DATASET_ACTIVITY",
    "WRITE_MANIFEST_ACTIVITY",
    "DatasetPlan",
    "DatasetRef",
    "DatasetSource",
    "PlanDataset",
    "ResultWriter",
    "WriteManifest",
    "pack_offsets",
]

DatasetFormat = Literal["csv", "jsonl", "parquet"]
DATASET_FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
             ".pq": "parquet"}  # fmt: skip
PLAN_DATASET_ACTIVITY = "orchestration.plan_dataset"
"""The activity type that plans a dataset (on the orchestration worker's queue)."""
WRITE_MANIFEST_ACTIVITY = "orchestration.write_manifest"
"""The activity type that writes a swarm's manifest (on the orchestration worker's queue)."""
MAX_DATASET_PARTITIONS = 200_000
"""The plan's offsets travel in history once per run: 200,000 partitions are about 1 MB."""
DEFAULT_ROWS_PER_PARTITION = 100

Column = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Endpoint = Annotated[
    Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+.*$")] | None,
    Field(description="s3:// only: the object store (else ORCH_S3_ENDPOINT_URL)."),
]


def _located(uri: str, endpoint_url: str | None) -> tuple[str, str, str]:
    """``split_uri(uri)``, refusing an endpoint for a local path."""
    scheme, bucket, path = split_uri(uri)
    if scheme != "s3" and endpoint_url is not None:
        raise ValueError("endpoint_url is for s3:// URIs")
    return scheme, bucket, path


class DatasetSource(BaseModel):
    """A dataset file a swarm splits into partitions of rows (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    uri: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="A local path, file:///path, or s3://bucket/key."
    )
    format: DatasetFormat | None = Field(
        default=None, description="csv, jsonl or parquet; None: from the file's suffix."
    )
    rows_per_partition: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description=f"Rows per partition (the last may have fewer); default "
        f"{DEFAULT_ROWS_PER_PARTITION}, or data_partitions equal parts when the task gives it.",
    )
    columns: list[Column] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Only these fields of each row (all when None); each must exist.",
    )
    endpoint_url: Endpoint = None

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSource:
        scheme, bucket, path = _located(self.uri, self.endpoint_url)
        if scheme == "s3" and (not bucket or not path):
            raise ValueError(f"uri {self.uri!r}: an object's URI is s3://<bucket>/<key>")
        if self.format is None:
            suffix = PurePosixPath(path).suffix.lower()
            if suffix not in _SUFFIXES:
                raise ValueError(
                    f"uri {self.uri!r}: cannot tell the format from the suffix {suffix!r}; "
                    f"give format= ({', '.join(DATASET_FORMATS)})"
                )
            self.format = _SUFFIXES[suffix]  # type: ignore[assignment]
        if self.columns is not None and len(set(self.columns)) != len(self.columns):
            raise ValueError("columns repeats a column")
        return self


def split_uri(uri: str) -> tuple[str, str, str]:
    """``(scheme, bucket, path)``: ``("", "", path)`` for a local path or ``file://`` URI,
    ``("s3", bucket, key)`` for an object.

    Raises:
        ValueError: another scheme, or a ``file://`` URI naming a host.
    """
    if "://" not in uri:
        return "", "", uri
    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"uri {uri!r}: a file:// URI names no host (file:///path)")
        return "", "", parts.path
    if parts.scheme == "s3":
        return "s3", parts.netloc, parts.path.lstrip("/")
    raise ValueError(f"uri {uri!r}: use a local path, file:///path or s3://bucket/key")


class DatasetRef(BaseModel):
    """What an agent needs to read a partition's rows (one per assignment)."""

    uri: str
    format: DatasetFormat
    endpoint_url: str | None = None
    header: list[str] | None = Field(default=None, description="CSV: the header's fields.")
    columns: list[str] | None = None
    size: int = Field(ge=0, description="The file's size when planned (a change is an error).")


class PlanDataset(BaseModel):
    """The plan activity's argument."""

    source: DatasetSource
    partitions: int | None = Field(
        default=None, ge=1, description="The task's data_partitions: that many equal parts."
    )
    swarm_id: str


def pack_offsets(offsets: list[int]) -> str:
    """Partition start offsets (ascending, from 0) as zlib-compressed base64 deltas."""
    deltas = array("Q", (b - a for a, b in zip([0, *offsets], offsets, strict=False)))
    return base64.b64encode(zlib.compress(deltas.tobytes(), 6)).decode()


def _unpack_offsets(packed: str) -> list[int]:
    deltas = array("Q")
    deltas.frombytes(zlib.decompress(base64.b64decode(packed)))
    total, offsets = 0, []
    for delta in deltas:
        total += delta
        offsets.append(total)
    return offsets


class DatasetPlan(BaseModel):
    """How a dataset was split: ``partitions`` ranges of rows (see the module docstring)."""

    ref: DatasetRef
    rows: int = Field(ge=1)
    partitions: int = Field(ge=1, le=MAX_DATASET_PARTITIONS)
    rows_per_partition: int | None = Field(
        default=None, description="Fixed-size partitions; None: ``partitions`` equal parts."
    )
    offsets: str | None = Field(
        default=None,
        description="CSV/JSONL: each partition's first byte (pack_offsets); the last ends "
        "at the file's end.",
    )
    _starts: list[int] | None = PrivateAttr(default=None)

    def row_range(self, partition: int) -> tuple[int, int]:
        """``(first, stop)``: the partition's rows, counted from 0 after any header."""
        if self.rows_per_partition is None:
            return chunk_bounds(self.rows, self.partitions, partition)
        first = partition * self.rows_per_partition
        return first, min(self.rows, first + self.rows_per_partition)

    def items(self) -> list[int]:
        """Rows per partition."""
        return [stop - first for first, stop in map(self.row_range, range(self.partitions))]

    def locator(self, partition: int) -> dict[str, Any]:
        """What a partition's descriptor says about its rows: ``rows`` ``[first, stop)``
        and, for CSV/JSONL, ``bytes`` ``[start, end)``."""
        first, stop = self.row_range(partition)
        found: dict[str, Any] = {"rows": [first, stop]}
        if self.offsets is not None:
            if self._starts is None:
                self._starts = _unpack_offsets(self.offsets)
            starts = self._starts
            end = starts[partition + 1] if partition + 1 < len(starts) else self.ref.size
            found["bytes"] = [starts[partition], end]
        return found


class ResultWriter(BaseModel):
    """Where a swarm writes its manifest: ``<uri>/<swarm id>/manifest.json``."""

    model_config = ConfigDict(extra="forbid")

    uri: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="A directory: a local path, file:///dir, or s3://bucket/prefix."
    )
    endpoint_url: Endpoint = None

    @model_validator(mode="after")
    def _consistent(self) -> ResultWriter:
        scheme, bucket, _ = _located(self.uri, self.endpoint_url)
        if scheme == "s3" and not bucket:
            raise ValueError(f"uri {self.uri!r}: an object store prefix is s3://<bucket>/<prefix>")
        return self

    def manifest_uri(self, swarm_id: str) -> str:
        return f"{self.uri.rstrip('/')}/{swarm_id}/manifest.json"


class WriteManifest(BaseModel):
    """The manifest activity's argument."""

    writer: ResultWriter
    swarm_id: str
    manifest: dict[str, Any]
