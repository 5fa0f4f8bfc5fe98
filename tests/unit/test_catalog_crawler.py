"""The local crawler against a synthetic Spark-like lake and moto's Glue API (in-process)."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from smartcity.catalog import CRAWLER_EXCLUSIONS, LAKE_TABLES, crawl
from smartcity.catalog.exclusions import is_excluded
from smartcity.config import Settings, Stream
from smartcity.contract import enriched_columns, quarantine_columns, raw_columns
from smartcity.errors import UsageError
from testdata.synthetic_lake import anomaly_columns, write_synthetic_lake

pytestmark = pytest.mark.unit


@pytest.fixture()
def env(tmp_path: Path):
    lake = write_synthetic_lake(tmp_path / "lake", vehicle_events=600, hours=2, devices=10)
    settings = Settings(profile="local", lake_uri=(tmp_path / "lake").as_uri(), aws_endpoint_url="")
    with mock_aws():
        yield settings, lake, boto3.client("glue", **settings.boto3_kwargs())


def _partitions(glue, name: str) -> dict[tuple[str, ...], dict]:
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName="smartcity", TableName=name)
    return {tuple(p["Values"]): p for page in pages for p in page["Partitions"]}


def _data_folders(root: Path) -> set[tuple[str, ...]]:
    """Partition folders that hold Parquet files (Spark's litter folders excluded)."""
    out = set()
    for f in root.rglob("*.parquet"):
        rel = f.relative_to(root).parts
        if any(p.startswith(("_", ".")) for p in rel):
            continue
        out.add(tuple(p.split("=", 1)[1] for p in rel[:-1]))
    return out


EXPECTED_COLUMNS = {
    **{f"raw_{s.value}": raw_columns(s) for s in Stream},
    "quarantine": quarantine_columns(),
    "vehicle_enriched": enriched_columns(),
    "anomalies": anomaly_columns(),
}


def test_first_crawl_registers_every_table_as_the_aws_crawler_would(env) -> None:
    settings, lake, glue = env
    report = crawl(settings)
    assert report.database_created
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="smartcity")["TableList"]}
    assert set(tables) == {t.name for t in LAKE_TABLES} == set(EXPECTED_COLUMNS)
    for lt in LAKE_TABLES:
        t = tables[lt.name]
        sd = t["StorageDescriptor"]
        assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [
            (c.name, c.type) for c in EXPECTED_COLUMNS[lt.name]
        ]
        keys = ["dt"] if lt.name == "quarantine" else ["dt", "hour"]
        assert t["PartitionKeys"] == [{"Name": k, "Type": "string"} for k in keys]
        assert t["TableType"] == "EXTERNAL_TABLE"
        assert (
            sd["SerdeInfo"]["SerializationLibrary"]
            == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        )
        assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
        assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
        assert sd["Location"] == f"{settings.lake_uri}/{lt.path}/"
        params = t["Parameters"]
        assert params["classification"] == "parquet" and params["typeOfData"] == "file"
        assert params["UPDATED_BY_CRAWLER"] == lt.crawler_name(settings)
        # Row count from the footers: Spark's _temporary attempt and other litter are not data.
        assert params["recordCount"] == str(lake.rows[lt.name])
        root = lake.root / lt.path
        assert set(_partitions(glue, lt.name)) == _data_folders(root)
        assert report.table(lt.name).partitions_added == len(_data_folders(root))


def test_second_crawl_changes_nothing(env) -> None:
    settings, _, glue = env
    crawl(settings)
    before = glue.get_table(DatabaseName="smartcity", Name="raw_vehicle")["Table"]["VersionId"]
    again = crawl(settings)
    assert again.changes == 0
    assert "0 changes" in again.render()
    assert all(t.status == "unchanged" for t in again.tables)
    assert glue.get_table(DatabaseName="smartcity", Name="raw_vehicle")["Table"]["VersionId"] == before


def test_new_partition_and_new_column_are_picked_up(env) -> None:
    settings, lake, glue = env
    crawl(settings)
    root = lake.root / "raw" / "weather"
    old = pq.read_table(next(root.glob("dt=*/hour=00/*.parquet")))
    newer = old.append_column("uv_index", pa.array([3.5] * old.num_rows))
    target = root / "dt=2024-05-02" / "hour=07"
    target.mkdir(parents=True)
    pq.write_table(newer, target / "part-00000-new.c000.snappy.parquet")

    report = crawl(settings, ["raw_weather"])
    rep = report.table("raw_weather")
    assert rep.status == "updated" and rep.partitions_added == 1 and rep.columns_added == ["uv_index"]
    table = glue.get_table(DatabaseName="smartcity", Name="raw_weather")["Table"]
    cols = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert cols[-1] == ("uv_index", "double")
    assert cols[:-1] == [(c.name, c.type) for c in raw_columns(Stream.WEATHER)]
    # InheritFromTable: every registered partition now carries the table's columns.
    parts = _partitions(glue, "raw_weather")
    assert all(p["StorageDescriptor"]["Columns"][-1]["Name"] == "uv_index" for p in parts.values())
    assert rep.partitions_updated == len(parts) - 1
    assert crawl(settings).changes == 0


def test_vanished_table_is_reported_not_deleted(env) -> None:
    settings, lake, glue = env
    crawl(settings)
    shutil.rmtree(lake.root / "raw" / "traffic")
    report = crawl(settings)
    rep = report.table("raw_traffic")
    assert rep.status == "vanished" and rep.partitions_missing
    assert "no data files under" in report.render()
    glue.get_table(DatabaseName="smartcity", Name="raw_traffic")  # still catalogued (DeleteBehavior LOG)


def test_unreadable_file_is_reported_and_skipped(env) -> None:
    settings, lake, _ = env
    bad = lake.root / "raw" / "gps" / "dt=2024-05-01" / "hour=01" / "part-99999-broken.c000.snappy.parquet"
    bad.write_bytes(b"PAR1 truncated")
    rep = crawl(settings, ["raw_gps"]).table("raw_gps")
    assert rep.records == lake.rows["raw_gps"]
    assert any("unreadable Parquet" in w for w in rep.warnings)


def test_unknown_table_is_a_usage_error(env) -> None:
    settings, _, _ = env
    with pytest.raises(UsageError, match="unknown table vehicle"):
        crawl(settings, ["vehicle"])


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("_spark_metadata/0", True),
        ("dt=2024-05-01/_spark_metadata/1.compact", True),
        ("_temporary/0/_temporary/attempt_1/part-0.parquet", True),
        ("dt=2024-05-01/hour=00/_temporary/0/part-0.parquet", True),
        ("_SUCCESS", True),
        ("dt=2024-05-01/hour=00/.part-0.snappy.parquet.crc", True),
        ("dt=2024-05-01/hour=00/part-00000-abc.c000.snappy.parquet", False),
        ("dt=2024-05-01/part-00000.snappy.parquet", False),
    ],
)
def test_exclusion_globs(path: str, excluded: bool) -> None:
    assert is_excluded(path, CRAWLER_EXCLUSIONS) is excluded
