"""Time-range parameters of the saved queries: rows and files outside the range are not read, and wrong
arguments get one line naming what the query expects.

The lake spans midnight (2024-05-01 22:00 to 2024-05-02 02:00 UTC), so hour ranges cross a ``dt`` boundary
and day ranges have something to exclude. "Files read" is DuckDB's own count (``EXPLAIN ANALYZE``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from moto import mock_aws

from smartcity.catalog import crawl
from smartcity.cli import main
from smartcity.config import Settings
from smartcity.errors import UsageError
from smartcity.query import run_query, saved_queries
from smartcity.query.engine import prepare
from smartcity.query.params import check_declared, declared_parameters, widest_values
from smartcity.query.transpile import parse
from testdata.synthetic_lake import write_synthetic_lake

pytestmark = pytest.mark.unit

START = datetime(2024, 5, 1, 22, tzinfo=UTC)
HOURS = 4
# Inside the lake: one hour (minutes are ignored), one day, and now() for the query bounded by now().
ONE_HOUR = [datetime(2024, 5, 2, 0, 45), datetime(2024, 5, 2, 0, 45)]
ONE_DAY = [date(2024, 5, 2), date(2024, 5, 2)]
NOW = datetime(2024, 5, 2, 1, 30)


@pytest.fixture(scope="module")
def lake_env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("lake")
    write_synthetic_lake(root, vehicle_events=2_000, start=START, hours=HOURS, devices=20, seed=5)
    settings = Settings(profile="local", lake_uri=root.as_uri(), aws_endpoint_url="")
    with mock_aws(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("SMARTCITY_LAKE_URI", root.as_uri())
        mp.setenv("SMARTCITY_AWS_ENDPOINT_URL", "")
        crawl(settings)
        yield settings, root


def frame(root: Path, rel: str) -> pd.DataFrame:
    keys = [("dt", pa.string())] + ([] if rel == "quarantine" else [("hour", pa.string())])
    part = ds.partitioning(pa.schema(keys), flavor="hive")
    return ds.dataset(root / rel, format="parquet", partitioning=part).to_table().to_pandas()


def narrow_values(name: str) -> list[Any]:
    types = {p.type for p in saved_queries()[name].parameters}
    return [] if not types else ONE_HOUR if types == {"timestamp"} else ONE_DAY


def files_read(settings: Settings, name: str, params: list[Any]) -> dict[str, tuple[int, int]]:
    """Per table the query reads: (files DuckDB read, files the table has), from ``EXPLAIN ANALYZE``."""
    prepared = prepare(settings, saved_queries()[name].sql, reference_time=NOW)
    try:
        plan = prepared.con.execute(
            "EXPLAIN (ANALYZE, FORMAT json) " + prepared.transpiled.duckdb_sql, params
        ).fetchall()[0][1]
        folders = {key: urlparse(t.location).path.rstrip("/") + "/" for key, t in prepared.tables.items()}
        out: dict[str, tuple[int, int]] = {}
        for scan in _scans(json.loads(plan)):
            first = scan.get("Filename(s)", "").split(",")[0].strip()
            read = int(scan["Total Files Read"])
            table = next((f"{db}.{n}" for (db, n), d in folders.items() if first.startswith(d)), None)
            if read:
                assert table is not None, first
                out[table] = (read, prepared.files[table])
        return out
    finally:
        prepared.close()


def _scans(node: Any):
    if isinstance(node, list):
        for child in node:
            yield from _scans(child)
    elif isinstance(node, dict):
        if node.get("extra_info", {}).get("Function") == "READ_PARQUET":
            yield node["extra_info"]
        yield from _scans(node.get("children", []) + node.get("operator", []))


@pytest.mark.parametrize("name", sorted(saved_queries()))
def test_no_saved_query_reads_a_whole_table(lake_env, name: str) -> None:
    """With a range inside the lake every table scan reads fewer files than the table has; over the full
    range (what the query read before it had parameters) it reads them all."""
    settings, _ = lake_env
    narrow = files_read(settings, name, narrow_values(name))
    assert narrow, "the range should still read some files"
    assert all(read < total for read, total in narrow.values()), narrow
    if saved_queries()[name].parameters:
        full = files_read(settings, name, widest_values(saved_queries()[name].parameters))
        assert all(read == total for read, total in full.values()) and set(full) >= set(narrow), full


def test_rows_outside_an_hour_range_are_excluded(lake_env) -> None:
    settings, root = lake_env
    q = saved_queries()["vehicles_per_hour"]
    v = frame(root, "raw/vehicle")
    rows = run_query(settings, q.sql, params=[datetime(2024, 5, 1, 23, 59), datetime(2024, 5, 2, 0)]).rows
    expected = (
        v[v.hour.isin(["23", "00"])].groupby(["dt", "hour"]).agg(n=("id", "size"), d=("device_id", "nunique"))
    )
    assert rows == [(dt, h, int(r.n), int(r.d)) for (dt, h), r in expected.iterrows()]
    assert [r[:2] for r in rows] == [("2024-05-01", "23"), ("2024-05-02", "00")]


def test_duplicates_and_late_events_over_one_hour_equal_pandas_over_that_partition(lake_env) -> None:
    settings, root = lake_env
    q = saved_queries()["duplicates_and_late_events"]
    result = run_query(settings, q.sql, params=ONE_HOUR).rows
    expected = []
    for s in sorted(("vehicle", "gps", "traffic", "weather", "emergency")):
        f = frame(root, f"raw/{s}")
        f = f[(f.dt == "2024-05-02") & (f.hour == "00")]
        late = int((f.ingest_time > f.event_time + pd.Timedelta(minutes=5)).sum())
        expected.append((s, len(f), f.id.nunique(), len(f) - f.id.nunique(), late))
    assert result == expected
    assert sum(r[3] for r in expected) > 0


def test_data_freshness_over_one_day_sees_only_that_day(lake_env) -> None:
    settings, root = lake_env
    q = saved_queries()["data_freshness"]
    rows = {r[0]: r[1] for r in run_query(settings, q.sql, params=ONE_DAY, reference_time=NOW).rows}
    v = frame(root, "raw/vehicle")
    assert rows["raw_vehicle"] == v[v.dt == "2024-05-02"].event_time.max().to_pydatetime()
    none = run_query(settings, q.sql, params=[date(2030, 1, 1), date(2030, 1, 2)], reference_time=NOW).rows
    assert len(none) == 7 and all(r[1] is None for r in none)


def test_named_parameters_equal_positional_ones(lake_env, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["query", "weather_coverage_per_hour", "--format", "csv"]
    assert main([*base, "--param", "2024-05-01T23:00", "--param", "2024-05-02T01:00"]) == 0
    positional = capsys.readouterr().out
    assert (
        main([*base, "--param", "last_hour=2024-05-02T01:00", "--param", "first_hour=2024-05-01T23:00"]) == 0
    )
    assert capsys.readouterr().out == positional
    assert len(positional.splitlines()) == 1 + 3  # header, hours 23, 00, 01


HOURS_EXPECTED = (
    "vehicles_per_hour expects 2 parameter(s) in this order: first_hour (timestamp, e.g. 2024-05-01T10:00),"
    " last_hour (timestamp, e.g. 2024-05-01T10:00)"
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vehicles_per_hour"], HOURS_EXPECTED + "; got 0"),
        (["vehicles_per_hour", "--param", "2024-05-01T22:00"], HOURS_EXPECTED + "; got 1"),
        (
            ["vehicles_per_hour", "--param", "yesterday", "--param", "2024-05-02T00:00"],
            "parameter first_hour (timestamp, e.g. 2024-05-01T10:00): cannot read 'yesterday'",
        ),
        (
            ["vehicles_per_hour", "--param", "2024-05-01T22:00+02:00", "--param", "2024-05-02T00:00"],
            "cannot read '2024-05-01T22:00+02:00': a zone-less UTC instant",
        ),
        (
            ["quarantine_reasons", "--param", "2024-05-01T10:00", "--param", "2024-05-02"],
            "parameter first_day (date, e.g. 2024-05-01): cannot read '2024-05-01T10:00'",
        ),
        (
            ["vehicles_per_hour", "--param", "first_hour=2024-05-01T22:00", "--param", "2024-05-02T00:00"],
            "give every --param as NAME=VALUE or none of them; " + HOURS_EXPECTED,
        ),
        (
            ["vehicles_per_hour", "--param", "first_hour=2024-05-01T22:00"],
            "missing last_hour: " + HOURS_EXPECTED,
        ),
        (
            ["vehicles_per_hour", "--param", "start=2024-05-01T22:00", "--param", "end=2024-05-02T00:00"],
            "unknown parameter 'start'; expected one of: first_hour, last_hour",
        ),
        (
            ["vehicles_near_active_incidents", "--param", "2024-05-01T22:00"],
            "vehicles_near_active_incidents takes no parameters; got 1",
        ),
        (
            ["--sql", "SELECT count(*) FROM raw_gps WHERE dt = ?"],
            "the query has 1 '?' placeholder(s) but declares 0 parameter(s)",
        ),
    ],
)
def test_wrong_parameters_are_one_line_naming_what_is_expected(
    lake_env, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["query", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_run_query_checks_the_number_of_values(lake_env) -> None:
    settings, _ = lake_env
    with pytest.raises(UsageError, match=r"takes 2 parameter value\(s\) \('\?' placeholders\), got 1"):
        run_query(settings, saved_queries()["vehicles_per_hour"].sql, params=[datetime(2024, 5, 2)])


def test_values_are_bound_not_formatted_into_the_sql(lake_env) -> None:
    """The translated SQL keeps its ``?``; a value that would rewrite the query if pasted in stays a value."""
    settings, _ = lake_env
    sql = "SELECT count(*) AS n FROM raw_gps WHERE dt = ?"
    hostile = "2024-05-02' OR dt <> '"
    result = run_query(settings, sql, params=[hostile])
    assert "dt = ?" in result.transpiled.duckdb_sql
    assert result.rows == [(0,)]
    assert run_query(settings, sql, params=["2024-05-02"]).rows[0][0] > 0


def test_list_shows_each_querys_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--list"]) == 0
    out = capsys.readouterr().out
    assert "--param first_hour=<timestamp>: the first UTC event hour read" in out
    assert "--param last_day=<date>" in out


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("-- Parameter: a: missing type\nSELECT ?", "malformed declaration"),
        ("-- Parameter: a interval: wrong type\nSELECT ?", "type one of timestamp, date"),
        ("-- Parameter: a date: x\n-- Parameter: a date: y\nSELECT ?, ?", "declared twice"),
        ("-- Parameter: a date: x\nSELECT 1", "has 0 '?' placeholder(s) but declares 1"),
    ],
)
def test_declarations_must_match_the_placeholders(sql: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        check_declared(parse(sql), declared_parameters(sql))


def test_every_saved_query_declares_its_range_once() -> None:
    for q in saved_queries().values():
        names = [p.name for p in q.parameters]
        assert names in ([], ["first_hour", "last_hour"], ["first_day", "last_day"]), (q.name, names)
