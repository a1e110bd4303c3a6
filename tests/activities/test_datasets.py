"""Planning and reading dataset partitions, without servers: record boundaries, rejections,
a changed file, the models' checks."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activities.dataset_files import DatasetError
from activities.dataset_plan import plan_dataset, record_ends
from activities.dataset_rows import DatasetReader, PartitionRows
from activities.swarm_manifest import read_manifest, write_manifest
from workflows.ranges import format_ranges, parse_ranges
from workflows.swarm_files import (
    DatasetPlan,
    DatasetSource,
    PlanDataset,
    ResultWriter,
    WriteManifest,
)
from workflows.swarm_models import Redrive, SwarmTask


def plan(path: Path, partitions: int | None = None, **source: Any) -> DatasetPlan:
    return plan_dataset(
        PlanDataset(
            source=DatasetSource(uri=str(path), **source), partitions=partitions, swarm_id="s"
        )
    )


def read_rows(found: DatasetPlan, partition: int) -> PartitionRows:
    with DatasetReader(found.ref) as reader:
        return reader.rows(found.locator(partition))


def all_rows(found: DatasetPlan) -> list[Any]:
    rows: list[Any] = []
    with DatasetReader(found.ref) as reader:
        parts = [reader.rows(found.locator(p)) for p in range(found.partitions)]
    for part in parts:
        assert not part.rejected, part.rejected
        rows += part.items
    return rows


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["a", "b,c", 'q"q', "x\ny", "r\r\ns", ""]), min_size=2, max_size=2
        ),
        max_size=30,
    ),
    st.integers(1, 17),
    st.booleans(),
)
def test_csv_record_ends_match_the_csv_module_whatever_the_chunking(
    rows: list[list[str]], chunk: int, crlf: bool
) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    data = out.getvalue().encode()
    ends = record_ends(chunked(data, chunk), quoted=True)
    records = [data[a:b] for a, b in zip([0, *ends], ends, strict=False)]
    parsed = [next(csv.reader(io.StringIO(r.decode(), newline=""))) for r in records]
    assert parsed == rows
    assert not ends or ends[-1] == len(data)


def test_blank_lines_and_a_missing_last_newline_are_handled() -> None:
    data = b'\n\na,b\n\n"x\n\ny",2\r\n\r\nlast,1'
    ends = record_ends(chunked(data, 3), quoted=True)
    records = [data[a:b].strip(b"\r\n") for a, b in zip([0, *ends], ends, strict=False)]
    assert records == [b"a,b", b'"x\n\ny",2', b"last,1"]
    assert record_ends([b'{"a": "x"}\n\n{"a": "y"}\n'], quoted=False).tolist() == [11, 23]


def test_every_row_once_in_fixed_and_equal_partitions(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "note"])
        for n in range(1_003):
            writer.writerow([n, "multi\nline" if n % 7 == 0 else "plain, with comma"])
    for found in (plan(path, rows_per_partition=50), plan(path, partitions=9)):
        assert [int(r["id"]) for r in all_rows(found)] == list(range(1_003))
    assert plan(path, rows_per_partition=50).items()[-1] == 3
    assert set(plan(path, partitions=9).items()) == {111, 112}


def test_jsonl_and_parquet_rows_with_columns(tmp_path: Path) -> None:
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"id": n, "x": "a\\nb", "y": n * 2}) + "\n" for n in range(205))
    )
    found = plan(jsonl, rows_per_partition=20, columns=["id"])
    assert all_rows(found) == [{"id": n} for n in range(205)]
    parquet = tmp_path / "d.parquet"
    table = pa.table({"id": list(range(500)), "v": [n / 2 for n in range(500)]})
    pq.write_table(table, parquet, row_group_size=64)
    found = plan(parquet, partitions=6, columns=["v"])
    assert found.offsets is None and found.rows == 500
    assert all_rows(found) == [{"v": n / 2} for n in range(500)]


def test_bad_rows_are_rejected_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"id,v\n1,a\n2\n3,\xff\n4,b,extra\n5,c\n")
    found = plan(path)
    rows = read_rows(found, 0)
    assert [r["id"] for r in rows.items] == ["1", "5"] and rows.numbers == [0, 4]
    assert [(r["row"], r["reason"]) for r in rows.rejected] == [
        (1, "has 1 fields, the header has 2"), (2, "is not UTF-8"),
        (3, "has 3 fields, the header has 2"),
    ]  # fmt: skip
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"id": 1}\nnot json\n[1]\n{"other": 2}\n')
    found = plan(jsonl, columns=["id"])
    rows = read_rows(found, 0)
    assert rows.items == [{"id": 1}]
    assert [r["row"] for r in rows.rejected] == [1, 2, 3]
    assert "not JSON" in rows.rejected[0]["reason"] and "lacks id" in rows.rejected[2]["reason"]


def test_problems_with_the_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("id,v\n1,2\n")
    with pytest.raises(DatasetError, match=r"d\.csv: the header lacks column\(s\) w \(it has"):
        plan(path, columns=["w"])
    with pytest.raises(DatasetError, match="no such file"):
        plan(tmp_path / "none.csv")
    with pytest.raises(DatasetError, match="not a file"):
        plan(tmp_path, format="csv")
    with pytest.raises(DatasetError, match="1 rows cannot fill data_partitions=2"):
        plan(path, partitions=2)
    (tmp_path / "empty.csv").write_text("id,v\n")
    with pytest.raises(DatasetError, match="no rows"):
        plan(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DatasetError, match="not a Parquet file"):
        plan(tmp_path / "bad.parquet")
    found = plan(path)
    path.write_text("id,v\n1,2\n3,4\n")
    with pytest.raises(DatasetError, match="the file changed"):
        read_rows(found, 0)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"uri": "data.txt"}, "cannot tell the format from the suffix '.txt'"),
        ({"uri": "s3://bucket"}, "s3://<bucket>/<key>"),
        ({"uri": "http://x/y.csv"}, "use a local path, file:///path or s3://bucket/key"),
        ({"uri": "file://host/y.csv"}, "names no host"),
        ({"uri": "d.csv", "endpoint_url": "http://127.0.0.1:9000"}, "endpoint_url is for s3"),
        ({"uri": "d.csv", "columns": ["a", "a"]}, "columns repeats a column"),
        ({"uri": "d.csv", "rows_per_partition": 0}, "greater than or equal to 1"),
    ],
)
def test_a_dataset_source_names_its_problem(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=problem):
        DatasetSource(**fields)


def test_a_swarm_task_over_a_dataset() -> None:
    base = {"objective": "o", "agents_required": 1, "agents": ["a"], "action": "x"}
    assert SwarmTask(**base, source=DatasetSource(uri="d.parquet")).data_partitions is None
    with pytest.raises(pydantic.ValidationError, match=r"data_partitions or source\.rows_per_p"):
        SwarmTask(
            **base, data_partitions=3, source=DatasetSource(uri="d.csv", rows_per_partition=2)
        )
    with pytest.raises(pydantic.ValidationError, match="data_partitions is required"):
        SwarmTask(**base)
    with pytest.raises(pydantic.ValidationError, match=r"partitions: '3-1': the range ends"):
        Redrive(of="s", partitions="3-1", accumulator={})


def test_ranges_round_trip() -> None:
    ids = [0, 1, 2, 3, 4, 9, 11, 12]
    assert format_ranges(ids) == "0-4, 9, 11-12" and parse_ranges("0-4, 9, 11-12") == ids
    assert format_ranges([]) == "" and parse_ranges("") == []
    with pytest.raises(ValueError, match="'x' is not a partition id"):
        parse_ranges("1, x")


def test_a_manifest_is_written_whole_and_read_back(tmp_path: Path) -> None:
    writer = ResultWriter(uri=str(tmp_path / "runs"))
    request = WriteManifest(writer=writer, swarm_id="s-1", manifest={"status": "completed"})
    uri = write_manifest(request)
    assert uri == f"{tmp_path}/runs/s-1/manifest.json" and write_manifest(request) == uri
    assert read_manifest(uri) == {"status": "completed"}
    assert [p.name for p in (tmp_path / "runs" / "s-1").iterdir()] == ["manifest.json"]
