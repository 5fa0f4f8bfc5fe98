"""The shared load transformations on static DataFrames: one row per key, the right winner, valid rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from smartcity.contract import enriched_columns
from smartcity.contract.exporters import spark_schema
from smartcity.warehouse import transform
from testdata import load_sources as syn

pytestmark = pytest.mark.unit

H = datetime(2026, 2, 1, 10, tzinfo=UTC)


def frame(spark, table: pa.Table, order: list[int] | None = None):
    """A DataFrame of ``table``; ``order`` sets each row's ``_source_order`` (its file's mtime locally)."""
    from pyspark.sql import types as T

    pdf = table.to_pandas()
    # Nullable everywhere, as Spark reads Parquet: the transform itself must drop rows missing a value.
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in spark_schema(enriched_columns())])
    if order is not None:
        pdf[transform.SOURCE_ORDER] = order
        schema = schema.add(transform.SOURCE_ORDER, T.LongType())
    return spark.createDataFrame(pdf, schema=schema)


def naive(ts: datetime) -> datetime:
    """Spark returns zone-less datetimes (UTC: the session and the test process both run in UTC)."""
    return ts.astimezone(UTC).replace(tzinfo=None)


def test_vehicle_telemetry_keeps_one_row_per_event_newest_file_wins(spark) -> None:
    base = syn.enriched_rows(20, H, seed=5)
    newer = (
        base.slice(0, 5)
        .set_column(base.schema.get_field_index("speed"), "speed", pa.array([999.0] * 5))
        .cast(base.schema)
    )
    table = pa.concat_tables([base, newer])
    rows = transform.vehicle_telemetry(frame(spark, table, order=[1] * 20 + [2] * 5)).collect()
    assert len(rows) == 20 == len({r.event_id for r in rows})
    by_id = {r.event_id: r for r in rows}
    assert all(by_id[e].speed == 999.0 for e in newer["event_id"].to_pylist())
    assert all(r.event_hour == naive(H) for r in rows)
    assert rows[0].__fields__[:4] == ["event_id", "device_id", "event_time", "event_hour"]


def test_rows_missing_a_required_column_are_skipped(spark) -> None:
    table = syn.enriched_rows(10, H, seed=6).to_pandas()
    table.loc[0, "make"] = None
    table.loc[1, "event_id"] = None
    rows = transform.vehicle_telemetry(
        frame(spark, pa.Table.from_pandas(table, preserve_index=False))
    ).collect()
    assert len(rows) == 8


def test_vehicles_take_latest_attributes_and_latest_known_type(spark) -> None:
    t = syn.enriched_rows(3, H, seed=7).to_pandas()
    t["device_id"] = "v1"
    t["event_time"] = [H, H + timedelta(minutes=1), H + timedelta(minutes=2)]
    t["model"] = ["A", "B", "C"]
    t["vehicle_type"] = ["bus", "taxi", None]
    facts = transform.vehicle_telemetry(frame(spark, pa.Table.from_pandas(t, preserve_index=False)))
    (v,) = transform.vehicles(facts).collect()
    assert (v.model, v.vehicle_type, v.first_seen, v.last_seen) == (
        "C",
        "taxi",
        naive(H),
        naive(H + timedelta(minutes=2)),
    )


def test_incidents_accumulate_first_report_latest_status_and_resolution(spark) -> None:
    table = syn.emergency_rows(H, seed=8, incidents=4, resolved_share=1.0)
    rows = {r.incident_id: r for r in transform.incidents(spark.createDataFrame(table.to_pandas())).collect()}
    assert len(rows) == 4
    for r in rows.values():
        assert r.status == "Resolved" and r.resolved_at == r.last_reported_at
        assert r.last_reported_at - r.first_reported_at == timedelta(minutes=10)


def test_weather_stations_one_row_per_station(spark) -> None:
    table = syn.weather_rows(H, seed=9, stations=5, per_station=4)
    rows = transform.weather_stations(spark.createDataFrame(table.to_pandas())).collect()
    assert sorted(r.weather_station_id for r in rows) == [f"station-{i:03d}" for i in range(5)]
