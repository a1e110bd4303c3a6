"""Swarms over dataset files (CSV, Parquet, an object store): every row once, only
references in history, the manifest, and redrive. Real Temporal dev server, in-process
agents, an S3-compatible server started here."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.context import ActionContext
from activities.swarm_manifest import read_manifest
from examples.swarm.supplier_csv import BAD_EVERY, csv_total, row_emissions, write_suppliers_csv
from orchestration.core.exceptions import SwarmError, SwarmNotConvergedError
from tests.workflows.dataset_support import parquet_from_csv, s3_server
from tests.workflows.swarm_support import running_swarm, task
from workflows.swarm_files import DatasetSource, ResultWriter
from workflows.swarm_models import SWARM_BATCH, SwarmTask


def dataset_task(pool: Any, source: DatasetSource, **fields: Any) -> SwarmTask:
    values: dict[str, Any] = {
        "items_per_partition": None,
        "data_partitions": None,
        "source": source,
        "action": "calculate_rows",
        "params": {},
        **fields,
    }
    return task(pool, **values)


def bad_rows(rows: int) -> set[int]:
    return {n for n in range(rows) if n % BAD_EVERY == BAD_EVERY - 1}


async def scheduled_types(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def test_a_csv_with_quoted_newlines_counts_every_row_once_and_writes_a_manifest(
    temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    path = write_suppliers_csv(tmp_path / "suppliers.csv", 4_000)
    assert '"' in path.read_text() and "\nHolding" in path.read_text()  # quoted newlines
    expected, bad = csv_total(path)
    source = DatasetSource(uri=str(path), rows_per_partition=150)
    writer = ResultWriter(uri=str(tmp_path / "runs"))
    async with running_swarm(temporal_client, unique, 4) as (swarm, pool):
        result = await swarm.deploy(dataset_task(pool, source, result_writer=writer))
    assert Decimal(result["result"]) == expected
    assert (result["partitions"], result["items_total"]) == (math.ceil(4_000 / 150), 4_000)
    assert result["rows_rejected"] == bad == len(bad_rows(4_000)) > 0
    assert result["unfinished"] == "" and "accumulator" not in result
    manifest = json.loads(Path(result["manifest_uri"]).read_text())
    assert result["manifest_uri"] == f"{tmp_path}/runs/{result['swarm_id']}/manifest.json"
    assert manifest["swarm_id"] == result["swarm_id"] and manifest["status"] == "completed"
    assert manifest["source"] == {"kind": "dataset", "uri": str(path), "format": "csv",
                                  "rows": 4_000, "columns": None}  # fmt: skip
    assert {r["row"] for r in manifest["rejected"]} == bad_rows(4_000)
    by_row = {r["row"]: r for r in manifest["rejected"]}
    assert any("header has 5" in r["reason"] for r in by_row.values())  # the reader's
    assert any("not a number" in r["reason"] for r in by_row.values())  # the handler's
    assert all(r["partition"] == r["row"] // 150 for r in by_row.values())
    assert manifest["failed"] == [] and manifest["not_run"] == ""
    assert Decimal(manifest["result"]) == expected
    assert sum(a["partitions"] for a in manifest["agents"].values()) == result["partitions"]


async def test_a_parquet_file_split_across_row_groups_counts_every_row_once(
    temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    csv_path = write_suppliers_csv(tmp_path / "suppliers.csv", 1_200)
    parquet = tmp_path / "suppliers.parquet"
    expected, rows = parquet_from_csv(csv_path, parquet, row_group_size=128)
    columns = ["sector", "region", "spend_usd"]
    source = DatasetSource(uri=f"file://{parquet}", columns=columns)
    async with running_swarm(temporal_client, unique, 3) as (swarm, pool):
        result = await swarm.deploy(dataset_task(pool, source, data_partitions=7))
    assert Decimal(result["result"]) == expected
    assert (result["partitions"], result["items_total"]) == (7, rows)


async def test_an_object_store_dataset_and_manifest(
    temporal_client: Client, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_suppliers_csv(tmp_path / "suppliers.csv", 800)
    expected, bad = csv_total(path)
    with s3_server(monkeypatch) as s3:
        s3.put("exports/2026/suppliers.csv", path.read_bytes())
        source = DatasetSource(uri="s3://exports/2026/suppliers.csv", endpoint_url=s3.endpoint,
                               rows_per_partition=100)  # fmt: skip
        writer = ResultWriter(uri="s3://exports/runs", endpoint_url=s3.endpoint)
        async with running_swarm(temporal_client, unique, 3) as (swarm, pool):
            result = await swarm.deploy(dataset_task(pool, source, result_writer=writer))
            with pytest.raises(SwarmError, match="no such file or object"):
                missing = source.model_copy(update={"uri": "s3://exports/2026/nothing.csv"})
                await swarm.deploy(dataset_task(pool, missing))
        manifest = read_manifest(result["manifest_uri"], s3.endpoint)
    assert Decimal(result["result"]) == expected and result["rows_rejected"] == bad
    assert result["manifest_uri"] == f"s3://exports/runs/{result['swarm_id']}/manifest.json"
    assert manifest["rows_rejected"] == bad and Decimal(manifest["result"]) == expected


async def test_history_carries_references_not_rows(
    temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    # No bad rows: rejections are reported through history, by design.
    small = write_suppliers_csv(tmp_path / "small.csv", 100, bad_every=None)
    large = write_suppliers_csv(tmp_path / "large.csv", 10_000, bad_every=None)
    sizes = {}
    # One agent, one partition per assignment: the same events for both, whatever the timing.
    async with running_swarm(temporal_client, unique, 1) as (swarm, pool):
        for path in (small, large):
            source = DatasetSource(uri=str(path))
            job = dataset_task(pool, source, data_partitions=10, max_batch=1)
            result = await swarm.deploy(job)
            history = await temporal_client.get_workflow_handle(result["swarm_id"]).fetch_history()
            sizes[path] = (len(history.to_json()), len(history.events))
    assert large.stat().st_size > 90 * small.stat().st_size
    (small_bytes, small_events), (large_bytes, large_events) = sizes[small], sizes[large]
    assert small_events == large_events, sizes
    assert large_bytes < 1.1 * small_bytes, sizes  # 100x the rows per partition
    assert large_bytes < large.stat().st_size / 5, sizes


async def test_a_missing_file_or_column_fails_before_any_partition_runs(
    temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    path = write_suppliers_csv(tmp_path / "suppliers.csv", 50)
    async with running_swarm(temporal_client, unique, 2) as (swarm, pool):
        missing = dataset_task(pool, DatasetSource(uri=str(tmp_path / "nope.csv")))
        with pytest.raises(SwarmError, match=r"nope\.csv: no such file or object"):
            await swarm.deploy(missing)
        no_column = dataset_task(pool, DatasetSource(uri=str(path), columns=["region", "co2"]))
        with pytest.raises(SwarmError) as caught:
            await swarm.deploy(no_column)
        types = await scheduled_types(temporal_client, no_column.swarm_id)
    assert "the header lacks column(s) co2 (it has: supplier_id, name, sector" in str(caught.value)
    assert "cannot split its dataset" in str(caught.value)
    assert types == ["orchestration.plan_dataset"] and SWARM_BATCH not in types


async def test_redrive_after_fixing_the_agent_gives_the_clean_total(
    temporal_client: Client, unique: str, tmp_path: Path
) -> None:
    path = write_suppliers_csv(tmp_path / "suppliers.csv", 1_000)
    expected, _ = csv_total(path)
    broken = {"on": True}

    async def flaky_rows(data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        if broken["on"] and data["partition"] % 4 == 1:
            raise RuntimeError("factor table not loaded")
        total = Decimal(0)
        for index, row in enumerate(data["items"]):
            priced = row_emissions(row)
            if isinstance(priced, Decimal):
                total += priced
            else:
                ctx.reject_rows(index, priced)
        return {"value": format(total, "f")}

    source = DatasetSource(uri=str(path), rows_per_partition=50)
    writer = ResultWriter(uri=str(tmp_path / "runs"))
    async with running_swarm(temporal_client, unique, 3) as (swarm, pool):
        for agent in pool:
            agent.action("flaky_rows")(flaky_rows)
        first = dataset_task(pool, source, action="flaky_rows", max_attempts=2,
                             convergence_threshold=0.9, result_writer=writer)  # fmt: skip
        with pytest.raises(SwarmNotConvergedError) as caught:
            await swarm.deploy(first)
        failed = caught.value.result
        manifest = json.loads(Path(failed["manifest_uri"]).read_text())
        broken["on"] = False  # the agent is fixed
        redriven = await swarm.redrive(first.swarm_id)
        again = await swarm.redrive(first.swarm_id)  # the same redrive, not a second one
        with pytest.raises(SwarmError, match="nothing to redrive"):
            await swarm.redrive(redriven["swarm_id"])
    assert failed["unfinished"] == "1, 5, 9, 13, 17"
    assert [f["partition"] for f in manifest["failed"]] == [1, 5, 9, 13, 17]
    entry = manifest["failed"][0]
    assert entry["rows"] == [50, 100] and entry["attempts"] == 2
    assert entry["bytes"][0] > 0 and entry["bytes"][1] > entry["bytes"][0]
    assert "factor table not loaded" in entry["last_error"]
    assert set(entry["agents"]) <= {a.agent_id for a in pool} and entry["agents"]
    assert redriven["swarm_id"] == f"{first.swarm_id}-redrive-1" == again["swarm_id"]
    assert redriven["redrive_of"] == first.swarm_id
    assert Decimal(redriven["result"]) == expected  # to the cent
    assert redriven["status"] == "completed" and redriven["partitions_completed"] == 20
    assert sum(a["partitions"] for a in redriven["agents"].values()) == 5  # only those ran
    assert redriven["manifest_uri"].endswith(f"{first.swarm_id}-redrive-1/manifest.json")
