"""Catalog-resolved execution: Athena's view of the lake (catalog types, new columns, CLI output)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from smartcity.catalog import crawl
from smartcity.cli import main
from smartcity.config import Settings
from smartcity.errors import SmartCityError
from smartcity.query import run_query
from testdata.synthetic_lake import write_synthetic_lake

pytestmark = pytest.mark.unit


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "lake"
    write_synthetic_lake(root, vehicle_events=300, hours=1, devices=5, tables=("raw",), int96=False)
    monkeypatch.setenv("SMARTCITY_LAKE_URI", root.as_uri())
    monkeypatch.setenv("SMARTCITY_AWS_ENDPOINT_URL", "")
    settings = Settings(profile="local", lake_uri=root.as_uri(), aws_endpoint_url="")
    with mock_aws():
        crawl(settings)
        yield settings, root


def test_a_new_column_reads_as_null_in_old_partitions(env) -> None:
    settings, root = env
    src = next((root / "raw/weather").glob("dt=*/hour=*/*.parquet"))
    t = pq.read_table(src)
    target = root / "raw/weather/dt=2024-05-02/hour=00"
    target.mkdir(parents=True)
    pq.write_table(t.append_column("uv_index", pa.array([4.0] * t.num_rows)), target / "part-0.parquet")
    crawl(settings)
    sql = "SELECT dt, count(*) AS n, count(uv_index) AS with_uv FROM raw_weather GROUP BY dt ORDER BY dt"
    rows = run_query(settings, sql).rows
    assert rows[-1] == ("2024-05-02", t.num_rows, t.num_rows)
    assert all(r[2] == 0 for r in rows[:-1])


def test_timestamps_are_catalog_typed_utc(env) -> None:
    settings, _ = env
    rows = run_query(
        settings, "SELECT min(event_time) AS t, typeof(min(event_time)) AS k FROM raw_vehicle"
    ).rows
    assert rows[0][1] == "TIMESTAMP" and rows[0][0].year == 2024 and rows[0][0].hour == 0


def test_missing_table_is_a_clear_error(env) -> None:
    settings, _ = env
    with pytest.raises(SmartCityError, match=r"smartcity\.nope is not in the Data Catalog"):
        run_query(settings, "SELECT * FROM nope")


def test_cli_formats_and_explain(env, capsys: pytest.CaptureFixture[str]) -> None:
    hours = ["--param", "2024-05-01T00:00", "--param", "2024-05-01T00:00"]
    assert main(["query", "vehicles_per_hour", *hours, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data and set(data[0]) == {"dt", "hour", "events", "vehicles"}
    assert main(["query", "--sql", "SELECT count(*) FROM raw_gps", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "_col0"
    sql = "SELECT date_diff('second', min(event_time), max(event_time)) FROM raw_gps"
    assert main(["query", "--sql", sql, "--explain"]) == 0
    assert "DATE_SUB('second'" in capsys.readouterr().out
    assert main(["query", "--sql", "SELECT format_datetime(event_time, 'yyyy') FROM raw_vehicle"]) == 2
    assert "format_datetime" in capsys.readouterr().err
    assert main(["crawl"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("0 changes")
