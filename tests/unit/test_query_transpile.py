"""Athena → DuckDB translation: constructs that would change meaning are refused by name."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from smartcity.query.transpile import TranspileError, transpile

pytestmark = pytest.mark.unit

SCHEMA = {
    "smartcity": {"t": {"a": "bigint", "b": "bigint", "x": "double", "ts": "timestamp", "dt": "string"}}
}


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT format_datetime(ts, 'yyyy-MM-dd') FROM t", "format_datetime"),
        ("SELECT parse_datetime(dt, 'yyyy-MM-dd') FROM t", "parse_datetime"),
        ("SELECT map_agg(dt, x) FROM t", "map_agg"),
        ('SELECT "$path" FROM t', "$path"),
        ("SELECT approx_percentile(x, a, 0.5) FROM t", "weighted approx_percentile"),
        ("CREATE TABLE z WITH (format = 'PARQUET') AS SELECT * FROM t", "CTAS"),
        ("INSERT INTO t SELECT * FROM t", "only SELECT"),
        ("SELECT 1; SELECT 2", "exactly one SQL statement"),
        ("SELECT FROM WHERE", "cannot parse"),
    ],
)
def test_untranslatable_constructs_are_named(sql: str, named: str) -> None:
    with pytest.raises(TranspileError, match=named.replace("$", r"\$")):
        transpile(sql, schema=SCHEMA, database="smartcity")


def _run(duck_sql: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA smartcity")
    con.execute(
        "CREATE TABLE smartcity.t AS SELECT 7::BIGINT a, 2::BIGINT b, 7.0::DOUBLE x, "
        "TIMESTAMP '2024-05-01 00:00:00.900' ts, '2024-05-01' dt"
    )
    return con.execute(duck_sql).fetchall()


def test_integer_division_truncates_as_in_trino() -> None:
    out = transpile("SELECT a / b AS q, x / b AS r FROM t", schema=SCHEMA, database="smartcity")
    assert _run(out.duckdb_sql) == [(3, 3.5)]


def test_division_of_unknown_types_is_refused() -> None:
    with pytest.raises(TranspileError, match="divides integers"):
        transpile("SELECT a / b FROM t")


def test_date_diff_counts_whole_units_like_trino() -> None:
    sql = "SELECT date_diff('second', ts, TIMESTAMP '2024-05-01 00:00:01.100') AS s FROM t"
    out = transpile(sql, schema=SCHEMA, database="smartcity")
    assert _run(out.duckdb_sql) == [(0,)]  # 200 ms elapsed: 0 whole seconds (DuckDB's DATE_DIFF says 1)


def test_now_is_pinned_to_the_reference_time() -> None:
    sql = "SELECT date_diff('minute', ts, current_timestamp) AS m, now() > ts AS later FROM t"
    out = transpile(sql, schema=SCHEMA, database="smartcity", reference_time=datetime(2024, 5, 1, 1, 0, 30))
    assert "2024-05-01 01:00:30" in out.duckdb_sql
    assert _run(out.duckdb_sql) == [(60, True)]


def test_unnamed_columns_get_athena_names_and_tables_are_listed() -> None:
    out = transpile(
        "WITH c AS (SELECT a FROM smartcity.t) SELECT count(*) FROM c JOIN t ON true",
        schema=SCHEMA,
        database="smartcity",
    )
    assert set(out.tables) == {("smartcity", "t"), (None, "t")}
    assert "_col0" in out.duckdb_sql
