"""Datasets for swarm tests: a supplier Parquet file, and an S3-compatible server on
127.0.0.1 (moto's, from PyPI, in this process; never a network service)."""

from __future__ import annotations

import contextlib
import csv
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from moto.server import ThreadedMotoServer
from pyarrow import fs as pafs

from examples.swarm.supplier_csv import row_emissions

__all__ = ["S3Server", "parquet_from_csv", "s3_server"]


def parquet_from_csv(source: Path, target: Path, *, row_group_size: int) -> tuple[Decimal, int]:
    """The CSV's complete records as Parquet (spend as text, as exported); return their
    sequential total and row count."""
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(header, r, strict=True)) for r in reader if len(r) == len(header)]
    pq.write_table(pa.Table.from_pylist(rows), target, row_group_size=row_group_size)
    priced = [row_emissions(r) for r in rows]
    return sum((p for p in priced if isinstance(p, Decimal)), Decimal(0)), len(rows)


class S3Server:
    """A running server: its endpoint, and a filesystem to put objects with."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.fs = pafs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True)

    def put(self, key: str, data: bytes) -> None:
        bucket = key.split("/", 1)[0]
        self.fs.create_dir(bucket)
        with self.fs.open_output_stream(key) as out:
            out.write(data)


@contextlib.contextmanager
def s3_server(monkeypatch: object) -> Iterator[S3Server]:
    """Start the server on a free port, with test credentials in the environment."""
    setenv = monkeypatch.setenv  # type: ignore[attr-defined]
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        setenv(name, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
