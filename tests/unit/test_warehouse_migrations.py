"""Warehouse migrations on a real PostgreSQL: they parse, apply once, refuse edits, match the contract."""

from __future__ import annotations

import re

import pytest

from smartcity.contract import enriched_columns
from smartcity.contract.exporters import sql_type
from smartcity.warehouse import merge
from smartcity.warehouse.migrate import MigrationError, discover, migrate, split_statements, status
from smartcity.warehouse.postgres import PostgresSession

pytestmark = pytest.mark.unit

# Redshift-only syntax PostgreSQL rejects: allowed only in the redshift/ folder.
REDSHIFT_ONLY = re.compile(r"\b(DISTKEY|SORTKEY|DISTSTYLE|ENCODE|GETDATE|SUPER|LISTAGG|IAM_ROLE)\b", re.I)


@pytest.fixture
def session(warehouse_session: PostgresSession) -> PostgresSession:
    return warehouse_session


def test_split_statements_ignores_semicolons_in_quotes_and_comments() -> None:
    sql = "-- a; comment\nSELECT 'x;y', \"a;b\" FROM t; /* c; */ SELECT 'it''s;'; ;\nSELECT 1"
    assert split_statements(sql) == ["SELECT 'x;y', \"a;b\" FROM t", "SELECT 'it''s;'", "SELECT 1"]


def test_dialect_specific_sql_stays_in_its_folder() -> None:
    for dialect in ("postgres", "redshift"):
        migrations = discover(dialect)
        assert [m.version for m in migrations] == sorted({m.version for m in migrations})
        for m in migrations:
            if m.folder == "common" or m.folder == "postgres":
                assert not REDSHIFT_ONLY.search(m.sql), f"{m.label} uses Redshift-only SQL"
    redshift = {m.folder for m in discover("redshift")}
    assert redshift == {"common", "redshift"}
    assert any(REDSHIFT_ONLY.search(m.sql) for m in discover("redshift") if m.folder == "redshift")


def test_migrate_applies_once_and_status_reports_it(session: PostgresSession) -> None:
    applied = migrate(session, "postgres")
    assert [m.version for m in applied] == [m.version for m in discover("postgres")]
    assert migrate(session, "postgres") == []
    assert {s.state for s in status(session, "postgres")} == {"applied"}
    tables = {
        r[0]
        for r in session.run("SELECT table_name FROM information_schema.tables WHERE table_schema='public'")
    }
    assert {
        "fact_vehicle_telemetry",
        "dim_vehicle",
        "dim_weather_station",
        "fact_incident",
        "etl_load_ledger",
        "etl_load_run",
        "schema_migrations",
    } <= tables
    views = {
        r[0]
        for r in session.run("SELECT table_name FROM information_schema.views WHERE table_schema='public'")
    }
    assert {
        "v_hourly_traffic_by_cell_weather",
        "v_incident_exposure_by_vehicle",
        "v_avg_speed_by_weather",
    } <= views


def test_migrate_up_to_a_target_then_the_rest(session: PostgresSession) -> None:
    assert [m.version for m in migrate(session, "postgres", target=1)] == [1]
    assert [s.state for s in status(session, "postgres")][:2] == ["applied", "pending"]
    assert [m.version for m in migrate(session, "postgres")] == [m.version for m in discover("postgres")][1:]


def test_an_edited_applied_migration_is_refused(session: PostgresSession) -> None:
    migrate(session, "postgres")
    session.run("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1")
    assert status(session, "postgres")[0].state == "changed"
    with pytest.raises(MigrationError, match="changed since it was applied"):
        migrate(session, "postgres")


def test_fact_table_columns_are_the_contracts(session: PostgresSession) -> None:
    """The migration file spells the enriched columns once; this keeps it equal to the contract."""
    migrate(session, "postgres")
    rows = session.run(
        "SELECT column_name, data_type, character_maximum_length, is_nullable "
        "FROM information_schema.columns WHERE table_name = 'fact_vehicle_telemetry' "
        "ORDER BY ordinal_position"
    )
    actual = {r[0]: r for r in rows}
    pg_names = {
        "double precision": "DOUBLE PRECISION",
        "integer": "INTEGER",
        "bigint": "BIGINT",
        "timestamp with time zone": "TIMESTAMPTZ",
    }
    for c in enriched_columns():
        assert c.name in actual, f"fact_vehicle_telemetry lacks contract column {c.name}"
        _, dtype, length, nullable = actual[c.name]
        shown = f"VARCHAR({length})" if dtype == "character varying" else pg_names[str(dtype)]
        assert shown == sql_type(c, "redshift"), c.name
        assert (nullable == "YES") == c.nullable, c.name
    assert set(actual) - {c.name for c in enriched_columns()} == {"event_hour", "load_id"}


def _stage(session: PostgresSession, rows: list[tuple[object, ...]]) -> None:
    session.run("TRUNCATE stg_dim_vehicle")
    for r in rows:
        session.run(
            "INSERT INTO stg_dim_vehicle (device_id, make, model, year, fuel_type, vehicle_type, "
            "first_seen, last_seen) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            r,
        )


def test_redshift_script_and_postgres_merge_agree(session: PostgresSession) -> None:
    """The Redshift statements are plain SQL PostgreSQL also runs: both paths must build the same table."""
    migrate(session, "postgres")
    t1, t2, t3 = "2026-01-01 10:00:00+00", "2026-01-01 11:00:00+00", "2026-01-01 12:00:00+00"
    batches = [
        [
            ("v1", "BMW", "C500", 2020, "Petrol", None, t1, t2),
            ("v2", "Ford", "Focus", 2019, "Diesel", "taxi", t1, t1),
        ],
        [
            ("v1", "BMW", "C500", 2021, "Petrol", "bus", t2, t3),
            ("v2", "Ford", "Fiesta", 2019, "Diesel", None, t1, t1),
        ],
    ]
    cols = ["device_id", "make", "model", "year", "fuel_type", "vehicle_type", "first_seen", "last_seen"]
    results = []
    for use_redshift in (False, True):
        session.run("TRUNCATE dim_vehicle")
        for load_id, batch in enumerate(batches, start=1):
            _stage(session, batch)
            if use_redshift:
                for stmt in merge.redshift_merge(merge.DIM_VEHICLE, cols, load_id):
                    assert "\n" not in stmt  # Glue post-actions must be one line
                    session.run(stmt)
            else:
                session.run(merge.postgres_merge(merge.DIM_VEHICLE, cols, load_id))
        results.append(
            session.run(
                "SELECT device_id, model, year, vehicle_type, first_seen, last_seen "
                "FROM dim_vehicle ORDER BY device_id"
            )
        )
    assert results[0] == results[1]
    v1, v2 = results[0]
    assert (v1[2], v1[3]) == (2021, "bus")  # newer batch wins
    assert (v2[1], v2[3]) == ("Fiesta", "taxi")  # equal last_seen: the later batch wins; a null type never
