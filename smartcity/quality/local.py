"""Evaluate the declared rules locally: DuckDB over a lake table's Parquet files, one verdict per rule.

The table is read the way Athena and the crawlers list it (hidden ``_``/``.`` paths skipped, Hive
partitions as columns), from the local folder or S3 through the lake's filesystem. ``evaluate`` is pure
over a DuckDB relation named ``t`` and the clock; ``table_dataset`` is the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow.dataset as ds

from smartcity.catalog.exclusions import is_hidden
from smartcity.catalog.lake_files import LakeFiles
from smartcity.quality.dqdl import render_rule
from smartcity.quality.rules import (
    ROW_LEVEL,
    AllowedValues,
    Complete,
    Fresh,
    HasRows,
    HourVsRecentHours,
    InRange,
    Rule,
    Unique,
    ruleset,
)

PASSED = "passed"
FAILED = "failed"


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict: ``offending`` rows for a row-level rule (None for a table-level one) and the
    value the verdict rests on, in words."""

    rule: str
    verdict: str
    offending: int | None
    measured: str

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED


@dataclass(frozen=True)
class TableResult:
    """Every rule's result for one table, its row count and when it was evaluated."""

    table: str
    evaluated_at: datetime
    row_count: int
    results: tuple[RuleResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if not r.passed)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> int:
    row = con.execute(sql, list(params)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _row_level(con: duckdb.DuckDBPyConnection, rule: Rule) -> int:
    """Offending rows of a row-level rule."""
    match rule:
        case Complete(column):
            return _count(con, f"SELECT count(*) FROM t WHERE {_q(column)} IS NULL")
        case InRange(column, low, high):
            c = _q(column)
            return _count(con, f"SELECT count(*) FROM t WHERE {c} IS NULL OR {c} < ? OR {c} > ?", (low, high))
        case AllowedValues(column, values):
            c = _q(column)
            return _count(
                con,
                f"SELECT count(*) FROM t WHERE {c} IS NULL OR CAST({c} AS VARCHAR) NOT IN "
                f"(SELECT unnest(?::VARCHAR[]))",
                (list(values),),
            )
        case Unique(columns):
            cols = ", ".join(_q(c) for c in columns)
            any_null = " OR ".join(f"{_q(c)} IS NULL" for c in columns)
            nulls = _count(con, f"SELECT count(*) FROM t WHERE {any_null}")
            shared = _count(
                con,
                f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM t WHERE NOT ({any_null}) "
                f"GROUP BY {cols} HAVING count(*) > 1)",
            )
            return nulls + shared
    raise TypeError(f"not a row-level rule: {rule!r}")


def hour_vs_recent_ratio(rows_per_hour: Mapping[int, int], hours: int) -> float:
    """Rows of the last complete hour (the hour before the newest) over the hourly average of the
    ``hours`` hours before it, from the first hour on; 1.0 when that past holds no row. Hours are numbered
    since the epoch; the Glue rendering is ``smartcity.quality.dqdl.hour_vs_recent_sql``."""
    if not rows_per_hour:
        return 1.0
    first, last = min(rows_per_hour), max(rows_per_hour) - 1
    base_rows = sum(n for h, n in rows_per_hour.items() if max(last - hours, first) <= h < last)
    if base_rows == 0:
        return 1.0
    return rows_per_hour.get(last, 0) * min(hours, last - first) / base_rows


def _hour_vs_recent(con: duckdb.DuckDBPyConnection, rule: HourVsRecentHours) -> RuleResult:
    c = _q(rule.column)
    per_hour = con.execute(
        f"SELECT floor(epoch({c}) / 3600)::BIGINT AS h, count(*) FROM t WHERE {c} IS NOT NULL GROUP BY h"
    ).fetchall()
    ratio = hour_vs_recent_ratio(dict(per_hour), rule.hours)
    verdict = PASSED if ratio >= rule.min_ratio else FAILED
    return RuleResult(render_rule(rule), verdict, None, f"last full hour {ratio:.2f}× the hours before")


def evaluate(
    con: duckdb.DuckDBPyConnection, rules: Sequence[Rule], now: datetime
) -> tuple[int, tuple[RuleResult, ...]]:
    """The row count of relation ``t`` and each rule's result at ``now``."""
    rows = _count(con, "SELECT count(*) FROM t")
    out: list[RuleResult] = []
    for rule in rules:
        text = render_rule(rule)
        if isinstance(rule, ROW_LEVEL):
            bad = _row_level(con, rule)
            out.append(RuleResult(text, FAILED if bad else PASSED, bad, f"{bad:,} of {rows:,} rows offend"))
        elif isinstance(rule, Fresh):
            newest = con.execute(f"SELECT max({_q(rule.column)}) FROM t").fetchone()
            value = newest[0] if newest else None
            if value is None:
                out.append(RuleResult(text, FAILED, None, "no rows"))
                continue
            stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
            age_h = (now - stamp).total_seconds() / 3600.0
            verdict = PASSED if age_h <= rule.max_age_hours else FAILED
            out.append(RuleResult(text, verdict, None, f"newest row {age_h:.2f} h old"))
        elif isinstance(rule, HasRows):
            out.append(RuleResult(text, PASSED if rows > 0 else FAILED, None, f"{rows:,} rows"))
        elif isinstance(rule, HourVsRecentHours):
            out.append(_hour_vs_recent(con, rule))
    return rows, tuple(out)


def table_dataset(lake: LakeFiles, table: str) -> ds.Dataset | None:
    """The table's visible Parquet files as one dataset with its Hive partition columns, or None when it
    has no file yet."""
    root = lake.fs_path(table)
    files = sorted(
        f.fs_path
        for f in lake.list_files(root)
        if not is_hidden(f.relative) and f.relative.endswith(".parquet")
    )
    if not files:
        return None
    return ds.dataset(
        files,
        filesystem=lake.fs,
        format="parquet",
        partitioning=ds.HivePartitioning.discover(),
        partition_base_dir=root,
    )


def evaluate_dataset(dataset: ds.Dataset | None, table: str, now: datetime) -> TableResult:
    """Evaluate the table's rules on its dataset (None: the table has no file yet, so no rows)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        if dataset is None:
            rows, results = 0, tuple(_without_rows(rule) for rule in ruleset(table))
        else:
            con.register("t", dataset)
            rows, results = evaluate(con, ruleset(table), now)
    finally:
        con.close()
    return TableResult(table, now, rows, results)


def _without_rows(rule: Rule) -> RuleResult:
    """A rule's result on a table with no file: row-level rules hold vacuously, as does the hourly volume
    (no past to compare with); the others judge a table without rows."""
    text = render_rule(rule)
    if isinstance(rule, ROW_LEVEL):
        return RuleResult(text, PASSED, 0, "no rows")
    if isinstance(rule, HourVsRecentHours):
        return RuleResult(text, PASSED, None, "no rows; nothing to compare with")
    return RuleResult(text, FAILED, None, "no rows")


def now_utc() -> datetime:
    return datetime.now(UTC)
