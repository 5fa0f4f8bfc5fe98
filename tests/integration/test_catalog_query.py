"""Crawler and queries through the local stack's real moto server: a file:// lake and an s3:// lake.

The streaming job's own lake is exercised by its integration tests; here the lake is the synthetic one in
the same layout (with Spark's litter), written where the stack's settings point.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest

from smartcity.catalog import LAKE_TABLES, crawl
from smartcity.query import run_query, saved_queries
from testdata.synthetic_lake import write_synthetic_lake

pytestmark = pytest.mark.integration


def test_crawl_and_query_a_local_lake_through_the_moto_server(stack) -> None:
    settings = stack.settings.model_copy(update={"catalog_database": "smartcity_it_file"})
    root = Path(urlparse(settings.lake_uri).path) / "it-file"
    lake = write_synthetic_lake(root, vehicle_events=1_000, hours=2, devices=8)
    settings = settings.model_copy(update={"lake_uri": root.as_uri()})

    first = crawl(settings)
    assert {t.table for t in first.tables if t.status == "created"} == {t.name for t in LAKE_TABLES}
    assert crawl(settings).changes == 0

    sql = saved_queries()["vehicles_per_hour"].sql
    rows = run_query(settings, sql, params=[datetime(2024, 5, 1, 0), datetime(2024, 5, 1, 1)]).rows
    assert sum(r[2] for r in rows) == lake.rows["raw_vehicle"]
    second = run_query(settings, sql, params=[datetime(2024, 5, 1, 1), datetime(2024, 5, 1, 1)]).rows
    assert second == [rows[1]] and rows[1][:2] == ("2024-05-01", "01")

    by_rule = run_query(
        settings,
        saved_queries()["anomalies_by_rule"].sql,
        params=[datetime(2024, 5, 1, 0), datetime(2024, 5, 1, 1)],
    ).rows
    assert sum(r[3] for r in by_rule) == lake.rows["anomalies"] > 0


def test_crawl_and_query_an_s3_lake_on_moto(stack, tmp_path: Path) -> None:
    settings = stack.settings.model_copy(update={"catalog_database": "smartcity_it_s3"})
    lake = write_synthetic_lake(tmp_path / "lake", vehicle_events=500, hours=1, devices=5)
    s3 = boto3.client("s3", **settings.boto3_kwargs())
    s3.create_bucket(Bucket="smartcity-it-lake")
    for f in (tmp_path / "lake").rglob("*"):
        if f.is_file():
            s3.upload_file(str(f), "smartcity-it-lake", "lake/" + f.relative_to(tmp_path / "lake").as_posix())
    settings = settings.model_copy(update={"lake_uri": "s3://smartcity-it-lake/lake"})

    report = crawl(settings)
    assert report.table("raw_vehicle").records == lake.rows["raw_vehicle"]
    glue = boto3.client("glue", **settings.boto3_kwargs())
    location = glue.get_table(DatabaseName="smartcity_it_s3", Name="vehicle_enriched")["Table"]
    assert (
        location["StorageDescriptor"]["Location"] == "s3://smartcity-it-lake/lake/enriched/vehicle_enriched/"
    )
    assert crawl(settings).changes == 0

    rows = run_query(
        settings, "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM vehicle_enriched"
    ).rows
    assert rows == [(lake.rows["vehicle_enriched"], lake.rows["vehicle_enriched"])]
    hour = [datetime(2024, 5, 1, 0), datetime(2024, 5, 1, 0)]
    rows = run_query(settings, saved_queries()["vehicles_per_hour"].sql, params=hour).rows
    assert rows[0][:3] == ("2024-05-01", "00", lake.rows["raw_vehicle"]) and len(rows) == 1
