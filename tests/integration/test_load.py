"""``smartcity load`` end to end on the real local stack: lake → catalog (moto) → Spark → PostgreSQL.

The lake is written by ``testdata.load_sources`` in the streaming job's exact layout and
catalogued by the real local crawler (``smartcity.catalog.crawl``); the loader then runs against the
stack's PostgreSQL, in a database of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from smartcity.catalog.crawler import crawl
from smartcity.config import Settings
from smartcity.warehouse.loader import LoadReport, run_load
from smartcity.warehouse.migrate import migrate
from smartcity.warehouse.postgres import PostgresSession
from testdata import load_sources as syn

pytestmark = [pytest.mark.integration, pytest.mark.spark]

H1 = datetime(2026, 3, 1, 8, tzinfo=UTC)
H2 = datetime(2026, 3, 1, 9, tzinfo=UTC)
H3 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def fresh_warehouse(stack_settings: Settings, tmp: Path, name: str) -> Settings:
    """Settings for a private lake, catalog database and PostgreSQL database, migrated."""
    admin = stack_settings.warehouse_dsn
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    dsn = admin.rsplit("/", 1)[0] + f"/{name}"
    settings = stack_settings.model_copy(
        update={"lake_uri": (tmp / "lake").as_uri(), "catalog_database": name, "warehouse_dsn": dsn}
    )
    with PostgresSession.open(dsn) as session:
        migrate(session, "postgres")
    return settings


def lake_dir(settings: Settings) -> Path:
    return Path(settings.lake_uri.removeprefix("file://"))


def write_hour(settings: Settings, hour: datetime, n: int, seed: int) -> None:
    lake = lake_dir(settings)
    syn.write_hour(syn.enriched_rows(n, hour, seed=seed), lake / "enriched/vehicle_enriched", hour)
    syn.write_hour(syn.weather_rows(hour, seed=seed), lake / "raw/weather", hour)
    syn.write_hour(syn.emergency_rows(hour, seed=seed), lake / "raw/emergency", hour)
    crawl(settings)


def lake_event_ids(settings: Settings) -> set[str]:
    """Distinct event ids as Athena would count them: every Parquet file under the table folder."""
    table = ds.dataset(
        lake_dir(settings) / "enriched/vehicle_enriched", format="parquet", partitioning="hive"
    )
    return set(pc.unique(table.to_table(columns=["event_id"])["event_id"]).to_pylist())


def scalar(settings: Settings, sql: str) -> object:
    with psycopg.connect(settings.warehouse_dsn) as conn:
        return conn.execute(sql).fetchone()[0]  # type: ignore[index]


def plus_speed(table: pa.Table, delta: float) -> pa.Table:
    """The same events with another ``speed``: a rewritten file whose enrichment changed."""
    index = table.schema.get_field_index("speed")
    return table.set_column(index, "speed", pc.add(table["speed"], delta)).cast(table.schema)


def stored_speed(settings: Settings, event_id: str) -> object:
    return scalar(settings, f"SELECT speed FROM fact_vehicle_telemetry WHERE event_id = '{event_id}'")


def counts(report: LoadReport) -> tuple[int, int, int, int]:
    """(read, inserted, updated, skipped) of the fact table."""
    return report.rows_read, report.rows_inserted, report.rows_updated, report.rows_skipped


@pytest.fixture(scope="module")
def wh(stack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return fresh_warehouse(stack.settings, tmp_path_factory.mktemp("load"), "wh_load_test")


def test_first_load_rerun_second_hour_and_late_rows(wh: Settings, spark) -> None:
    write_hour(wh, H1, 5000, seed=1)
    first = run_load(wh, spark=spark)
    ids = lake_event_ids(wh)
    assert first.rows_read == 5000 and first.rows_inserted == len(ids) == 5000
    assert scalar(wh, "SELECT count(*) FROM fact_vehicle_telemetry") == len(ids)
    assert scalar(wh, "SELECT count(*) FROM fact_incident") == 30
    assert (
        scalar(wh, "SELECT count(*) FROM fact_incident WHERE status = 'Resolved' AND resolved_at IS NOT NULL")
        > 0
    )
    assert scalar(wh, "SELECT count(*) FROM dim_weather_station") == 20

    again = run_load(wh, spark=spark)  # nothing new: no Spark job, no change
    assert again.load_id is None and again.rows_read == 0
    assert scalar(wh, "SELECT count(*) FROM fact_vehicle_telemetry") == 5000
    assert scalar(wh, "SELECT count(*) FROM etl_load_run") == 1

    write_hour(wh, H2, 3000, seed=2)
    second = run_load(wh, spark=spark)
    assert (second.rows_read, second.rows_inserted, second.rows_updated) == (3000, 3000, 0)
    assert scalar(wh, "SELECT count(*) FROM fact_vehicle_telemetry") == len(lake_event_ids(wh)) == 8000

    # Late rows for the loaded hour H1: 200 new events, plus 50 already-loaded events whose enrichment
    # changed (a later file wins) and 50 exact duplicates of loaded events (skipped).
    old = syn.enriched_rows(5000, H1, seed=1)
    changed = plus_speed(old.slice(0, 50), 1.0)
    late = syn.enriched_rows(200, H1, seed=3)
    syn.write_hour(
        pa.concat_tables([late, changed, old.slice(100, 50)]), lake_dir(wh) / "enriched/vehicle_enriched", H1
    )
    crawl(wh)
    assert counts(run_load(wh, spark=spark)) == (300, 200, 50, 50)
    assert scalar(wh, "SELECT count(*) FROM fact_vehicle_telemetry") == len(lake_event_ids(wh)) == 8200
    assert stored_speed(wh, changed["event_id"][0].as_py()) == pytest.approx(changed["speed"][0].as_py())
    assert scalar(wh, "SELECT count(*) FROM etl_load_ledger WHERE source_table = 'vehicle_enriched'") == 3

    # A new hour whose 100 events arrive twice in the same load (a rewritten file beside the original,
    # the copy newer and with another speed): the fact's primary key refuses the direct COPY, the load
    # deduplicates (the newer file wins) and merges; the vehicle dimension comes from the same rows.
    table_dir = lake_dir(wh) / "enriched/vehicle_enriched"
    fresh = syn.enriched_rows(100, H3, seed=4)
    original = syn.write_hour(fresh, table_dir, H3)
    # The newer file wins by modification time: set it a minute back, whatever the filesystem's resolution.
    older = original.stat().st_mtime - 60
    os.utime(original, (older, older))
    rewritten = plus_speed(fresh, 2.0)
    syn.write_hour(rewritten, table_dir, H3)
    crawl(wh)
    assert counts(run_load(wh, spark=spark)) == (200, 100, 0, 100)
    assert scalar(wh, "SELECT count(*) FROM fact_vehicle_telemetry") == len(lake_event_ids(wh)) == 8300
    assert stored_speed(wh, fresh["event_id"][0].as_py()) == pytest.approx(rewritten["speed"][0].as_py())
    assert (
        scalar(
            wh,
            "SELECT count(*) FROM dim_vehicle d JOIN (SELECT device_id, max(event_time) AS t "
            "FROM fact_vehicle_telemetry GROUP BY device_id) f USING (device_id) WHERE d.last_seen <> f.t",
        )
        == 0
    )


def _loader_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SMARTCITY_WAREHOUSE_DSN": settings.warehouse_dsn,
            "SMARTCITY_LAKE_URI": settings.lake_uri,
            "SMARTCITY_CATALOG_DATABASE": settings.catalog_database,
            "SMARTCITY_AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",
            "SMARTCITY_SPARK_MASTER": "local[2]",
        }
    )
    return env


def _blocked_backend(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO etl_load_run%'"
    ).fetchone()
    return bool(row and row[0])


@pytest.fixture(scope="module")
def killwh(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    yield fresh_warehouse(stack.settings, tmp_path_factory.mktemp("kill"), "wh_kill_test")


def test_killed_load_leaves_the_warehouse_unchanged_and_rerun_completes(killwh: Settings) -> None:
    """SIGKILL ``smartcity load`` after its MERGEs ran but before COMMIT, then run it again.

    To stop the loader at exactly that point the test holds a lock that blocks the run record's INSERT,
    the loader's last statement before COMMIT; everything else (staging, MERGE, ledger) has run by then.
    """
    write_hour(killwh, H1, 4000, seed=7)
    cmd = [sys.executable, "-m", "smartcity.cli", "load"]
    with psycopg.connect(killwh.warehouse_dsn) as blocker:
        blocker.execute("LOCK TABLE etl_load_run IN EXCLUSIVE MODE")
        proc = subprocess.Popen(
            cmd, env=_loader_env(killwh), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            with psycopg.connect(killwh.warehouse_dsn, autocommit=True) as watch:
                deadline = time.monotonic() + 300
                while not _blocked_backend(watch):
                    assert proc.poll() is None, proc.stdout.read().decode()[-2000:]  # type: ignore[union-attr]
                    assert time.monotonic() < deadline, "loader never reached its commit"
                    time.sleep(0.2)
                # At the kill point the MERGE has already run inside the loader's open transaction.
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        blocker.rollback()  # release the lock; the orphaned backend then finds its client gone

    with psycopg.connect(killwh.warehouse_dsn, autocommit=True) as watch:
        deadline = time.monotonic() + 30
        while watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO etl_load_run%'"
        ).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the killed loader's backend did not go away"
            time.sleep(0.2)
    assert scalar(killwh, "SELECT count(*) FROM fact_vehicle_telemetry") == 0
    assert scalar(killwh, "SELECT count(*) FROM etl_load_ledger") == 0
    assert scalar(killwh, "SELECT count(*) FROM etl_load_run") == 0

    done = subprocess.run(cmd, env=_loader_env(killwh), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "read 4000, inserted 4000, updated 0, skipped 0" in done.stdout
    assert (
        scalar(killwh, "SELECT count(*) FROM fact_vehicle_telemetry") == len(lake_event_ids(killwh)) == 4000
    )
    assert scalar(killwh, "SELECT count(*) FROM etl_load_run") == 1


def test_failure_is_one_line_and_changes_nothing(killwh: Settings) -> None:
    """A table missing from the catalog: exit 2, one line naming it, warehouse untouched."""
    before = scalar(killwh, "SELECT count(*) FROM etl_load_run")
    env = _loader_env(killwh) | {"SMARTCITY_CATALOG_DATABASE": "no_such_database"}
    done = subprocess.run(
        [sys.executable, "-m", "smartcity.cli", "load"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "vehicle_enriched" in lines[0] and "smartcity crawl" in lines[0], done.stderr
    assert scalar(killwh, "SELECT count(*) FROM etl_load_run") == before
