"""The warehouse views give the same numbers as the Athena saved queries over the same lake.

Four views mirror a saved query one to one (smartcity/query/saved/<name>.sql, run locally by
``smartcity.query.engine.run_query``: catalog → sqlglot → DuckDB over the Parquet files). The two views
with no saved-query twin are checked against an independent pandas computation over the same files.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import psycopg
import pyarrow.dataset as ds
import pytest

from smartcity.config import Settings
from smartcity.query.engine import run_query
from smartcity.query.params import widest_values
from smartcity.query.saved import saved_query
from smartcity.warehouse.loader import run_load
from tests.integration.test_load import fresh_warehouse, lake_dir, write_hour

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def loaded(stack, spark, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = fresh_warehouse(stack.settings, tmp_path_factory.mktemp("views"), "wh_views_test")
    write_hour(settings, datetime(2026, 4, 2, 13, tzinfo=UTC), 3000, seed=11)
    write_hour(settings, datetime(2026, 4, 2, 14, tzinfo=UTC), 2000, seed=12)
    run_load(settings, spark=spark)
    return settings


def view(settings: Settings, sql: str) -> list[tuple]:
    with psycopg.connect(settings.warehouse_dsn) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def same(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b) and a, (len(a), len(b))
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, str) or x is None:
                assert x == y, (ra, rb)
            else:
                assert float(x) == pytest.approx(float(y), abs=0.011), (ra, rb)


@pytest.mark.parametrize(
    ("name", "sql"),
    [
        (
            "avg_speed_by_weather",
            "SELECT weather_condition, events, avg_speed_kmh FROM v_avg_speed_by_weather "
            "ORDER BY weather_condition",
        ),
        (
            "air_quality_exposure",
            "SELECT device_id, events_with_aqi, avg_aqi, max_aqi, unhealthy_events "
            "FROM v_air_quality_exposure ORDER BY avg_aqi DESC, device_id",
        ),
        (
            "speeding_hotspots",
            "SELECT cell_id, events, speeding_events, speeding_pct, max_speed_kmh "
            "FROM v_speeding_hotspots ORDER BY speeding_events DESC, cell_id LIMIT 20",
        ),
        (
            "weather_coverage_per_hour",
            "SELECT to_char(hour, 'YYYY-MM-DD'), CAST(extract(hour FROM hour) AS INT), "
            "events, without_weather, without_weather_pct FROM v_weather_coverage_per_hour ORDER BY hour",
        ),
    ],
)
def test_view_matches_saved_athena_query(loaded: Settings, name: str, sql: str) -> None:
    saved = saved_query(name)
    athena = run_query(loaded, saved.sql, params=widest_values(saved.parameters))
    rows = [tuple(r) for r in athena.rows]
    if name == "weather_coverage_per_hour":  # Athena's partition columns are strings: dt, hour
        rows = [(r[0], int(r[1]), *r[2:]) for r in rows]
    got = view(loaded, sql)
    if "LIMIT" not in sql:  # rows equal on the sort key may come in either order; compare by key
        got, rows = sorted(got, key=lambda r: str(r[:2])), sorted(rows, key=lambda r: str(r[:2]))
    same(got, rows)


def _lake(settings: Settings) -> pd.DataFrame:
    root = lake_dir(settings) / "enriched/vehicle_enriched"
    return ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()


def test_hourly_traffic_view_matches_pandas(loaded: Settings) -> None:
    df = _lake(loaded)
    df["hour_ts"] = df["event_time"].dt.floor("h")
    expected = (
        df.groupby(["hour_ts", "cell_id", "weather_condition"], dropna=False)
        .agg(
            events=("event_id", "size"),
            vehicles=("device_id", "nunique"),
            avg_speed=("speed", "mean"),
            max_speed=("speed", "max"),
            speeding=("speed", lambda s: int((s > 80).sum())),
        )
        .reset_index()
    )
    expected["weather_condition"] = (
        expected["weather_condition"].astype(object).where(expected["weather_condition"].notna(), None)
    )
    exp_rows = sorted(
        (
            r.hour_ts.isoformat(),
            r.cell_id,
            r.weather_condition or "",
            r.events,
            r.vehicles,
            r.avg_speed,
            r.max_speed,
            r.speeding,
        )
        for r in expected.itertuples()
    )
    got = sorted(
        (h.isoformat(), c, w or "", e, v, a, m, s)
        for h, c, w, e, v, a, m, s in view(
            loaded,
            "SELECT hour, cell_id, weather_condition, events, vehicles, "
            "avg_speed_kmh, max_speed_kmh, speeding_events "
            "FROM v_hourly_traffic_by_cell_weather",
        )
    )
    same(got, exp_rows)


def test_incident_exposure_view_matches_pandas(loaded: Settings) -> None:
    df = _lake(loaded)
    near = df[df["nearest_incident_id"].notna()]
    expected = sorted(
        (
            dev,
            len(g),
            g["nearest_incident_id"].nunique(),
            g["nearest_incident_distance_km"].min(),
            int(g["incidents_within_radius"].max()),
        )
        for dev, g in near.groupby("device_id")
    )
    got = view(
        loaded,
        "SELECT device_id, exposed_events, incidents, closest_km, max_incidents_in_radius "
        "FROM v_incident_exposure_by_vehicle ORDER BY device_id",
    )
    same(got, expected)
    # dim_vehicle joined in: every exposed vehicle has its make from the lake
    makes = dict(view(loaded, "SELECT device_id, make FROM v_incident_exposure_by_vehicle"))
    assert all(makes[d] == g["make"].iloc[0] for d, g in near.groupby("device_id"))
