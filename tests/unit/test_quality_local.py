"""The local quality engine at the rules' edges: small Parquet tables written in tmp_path, DuckDB verdicts.

A reading exactly at a contract limit passes and the smallest step beyond it fails with one offending
row; freshness and the row-count bound relative to the recent past are judged at their exact limits, and
the Spark SQL that Glue runs for that bound measures what the local engine measures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from smartcity.catalog.lake_files import LakeFiles
from smartcity.config import Stream
from smartcity.contract.columns import ColumnSpec, field_constraints, raw_columns
from smartcity.lake_layout import raw_table
from smartcity.quality.dqdl import hour_vs_recent_sql, render_rule
from smartcity.quality.local import (
    FAILED,
    PASSED,
    TableResult,
    evaluate_dataset,
    hour_vs_recent_ratio,
    table_dataset,
)
from smartcity.quality.rules import (
    FRESHNESS_MAX_AGE_HOURS,
    MIN_RATIO_OF_RECENT,
    RECENT_HOURS,
    Fresh,
    HourVsRecentHours,
    InRange,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WEATHER = raw_table(Stream.WEATHER)
ARROW = {"string": pa.string(), "double": pa.float64(), "int": pa.int32(), "bigint": pa.int64()}


def _valid(spec: ColumnSpec, n: int) -> Any:
    if spec.type == "timestamp":
        return NOW - timedelta(minutes=5)
    if spec.name == "weather_condition":
        return "Rain"
    if spec.name == "kafka_offset":
        return n
    return {"string": f"{spec.name}-{n}", "double": 1.5, "int": 0, "bigint": n}[spec.type]


def weather_rows(count: int, **overrides: Any) -> list[dict[str, Any]]:
    """``count`` valid raw weather rows; ``overrides`` set a column of the first row."""
    rows = [{c.name: _valid(c, n) for c in raw_columns(Stream.WEATHER)} for n in range(count)]
    rows[0].update(overrides)
    return rows


def write_table(root: Path, table: str, rows: list[dict[str, Any]]) -> LakeFiles:
    """The rows as one Parquet file in a dt/hour partition of the table, plus a hidden file to skip."""
    columns = raw_columns(Stream.WEATHER)
    schema = pa.schema(
        [
            pa.field(c.name, pa.timestamp("us", tz="UTC") if c.type == "timestamp" else ARROW[c.type])
            for c in columns
        ]
    )
    folder = root / table / "dt=2026-12-01" / "hour=11"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-0.parquet")
    hidden = root / table / "_spark_metadata"
    hidden.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), hidden / "stale.parquet")
    return LakeFiles(pafs.LocalFileSystem(), str(root), root.as_uri())


def evaluate(tmp_path: Path, rows: list[dict[str, Any]], now: datetime = NOW) -> TableResult:
    lake = write_table(tmp_path / "lake", WEATHER, rows)
    return evaluate_dataset(table_dataset(lake, WEATHER), WEATHER, now)


def verdict(result: TableResult, rule_text_part: str) -> tuple[str, int | None]:
    [found] = [r for r in result.results if rule_text_part in r.rule]
    return found.verdict, found.offending


def test_valid_rows_pass_every_rule_and_hidden_files_are_not_read(tmp_path: Path) -> None:
    result = evaluate(tmp_path, weather_rows(3))
    assert result.row_count == 3
    assert result.passed, [r for r in result.results if not r.passed]


@pytest.mark.parametrize(
    "field,column", [("temperature", "temperature"), ("airQualityIndex", "air_quality_index")]
)
def test_a_reading_exactly_at_a_contract_limit_passes_and_beyond_it_fails(
    tmp_path: Path, field: str, column: str
) -> None:
    limits = field_constraints(Stream.WEATHER)[field]
    low, high = float(limits["minimum"]), float(limits["maximum"])
    rule = f'ColumnValues "{column}" >= '
    for value in (low, high):
        assert verdict(evaluate(tmp_path / f"at{value}", weather_rows(2, **{column: value})), rule) == (
            PASSED,
            0,
        )
    for value in (low - 0.001, high + 0.001):
        assert verdict(evaluate(tmp_path / f"out{value}", weather_rows(2, **{column: value})), rule) == (
            FAILED,
            1,
        )


def test_a_null_reading_offends_its_range_and_completeness(tmp_path: Path) -> None:
    result = evaluate(tmp_path, weather_rows(4, humidity=None))
    assert verdict(result, 'IsComplete "humidity"') == (FAILED, 1)
    assert verdict(result, 'ColumnValues "humidity" >= ') == (FAILED, 1)
    assert verdict(result, 'IsComplete "temperature"') == (PASSED, 0)


def test_allowed_values_are_the_contracts_and_case_sensitive(tmp_path: Path) -> None:
    rule = 'ColumnValues "weather_condition" in'
    assert verdict(evaluate(tmp_path / "a", weather_rows(2, weather_condition="Snow")), rule) == (PASSED, 0)
    assert verdict(evaluate(tmp_path / "b", weather_rows(2, weather_condition="snow")), rule) == (FAILED, 1)


def test_uniqueness_counts_every_row_sharing_a_kafka_record_but_allows_a_repeated_event_id(
    tmp_path: Path,
) -> None:
    rows = weather_rows(4)
    rows[1]["id"] = rows[0]["id"]  # a duplicate delivery: another Kafka record, same event id
    assert verdict(evaluate(tmp_path / "a", rows), "IsPrimaryKey") == (PASSED, 0)
    rows[2]["kafka_offset"] = rows[3]["kafka_offset"]
    assert verdict(evaluate(tmp_path / "b", rows), "IsPrimaryKey") == (FAILED, 2)


def test_freshness_holds_at_exactly_the_limit_and_fails_a_second_later(tmp_path: Path) -> None:
    rule = render_rule(Fresh("ingest_time", FRESHNESS_MAX_AGE_HOURS))
    newest = NOW - timedelta(hours=FRESHNESS_MAX_AGE_HOURS)
    rows = weather_rows(2, ingest_time=newest)
    rows[1]["ingest_time"] = newest - timedelta(hours=30)
    assert verdict(evaluate(tmp_path / "a", rows), rule)[0] == PASSED
    assert verdict(evaluate(tmp_path / "b", rows, now=NOW + timedelta(seconds=1)), rule)[0] == FAILED


HOUR_ZERO = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def arrivals(per_hour: dict[int, int]) -> list[dict[str, Any]]:
    """Valid weather rows arriving ``n`` in hour ``h`` (hours after HOUR_ZERO), a minute apart."""
    times = [HOUR_ZERO + timedelta(hours=h, minutes=m) for h, n in per_hour.items() for m in range(n)]
    rows = weather_rows(len(times))
    for row, (offset, at) in zip(rows, enumerate(times), strict=True):
        row["ingest_time"], row["kafka_offset"] = at, offset
    return rows


def test_the_last_full_hour_is_judged_against_the_hours_before_it_at_exactly_the_ratio(
    tmp_path: Path,
) -> None:
    rule = render_rule(HourVsRecentHours("ingest_time", RECENT_HOURS, MIN_RATIO_OF_RECENT))
    assert rule.startswith('CustomSql "SELECT') and rule.endswith(f">= {MIN_RATIO_OF_RECENT:g}")
    # Hours 1-3 average 4 rows; hour 4 is the last full hour (hour 5 holds the newest row); hour 0, with
    # 50 rows, is older than the RECENT_HOURS compared.
    past = {0: 50, 1: 4, 2: 4, 3: 4}
    assert verdict(evaluate(tmp_path / "a", arrivals(past | {4: 2, 5: 1})), rule)[0] == PASSED
    assert verdict(evaluate(tmp_path / "b", arrivals(past | {4: 1, 5: 1})), rule)[0] == FAILED
    # An hour without rows counts as zero: hours 1-3 average 2.
    assert verdict(evaluate(tmp_path / "c", arrivals({0: 50, 1: 6, 3: 0, 4: 1, 5: 1})), rule)[0] == PASSED
    # A stream that stopped for the last full hour fails; a table younger than two hours passes.
    assert verdict(evaluate(tmp_path / "d", arrivals(past | {5: 1})), rule)[0] == FAILED
    assert verdict(evaluate(tmp_path / "e", arrivals({4: 1, 5: 60})), rule)[0] == PASSED


@pytest.mark.parametrize(
    "per_hour",
    [
        {},
        {7: 3},
        {4: 1, 5: 60},
        {0: 50, 1: 4, 2: 4, 3: 4, 4: 2, 5: 1},
        {0: 50, 1: 4, 2: 4, 3: 4, 5: 1},
        {0: 9, 2: 3, 3: 1, 4: 5, 5: 2},
        {1: 2, 2: 7, 3: 1},
    ],
)
def test_the_spark_sql_glue_runs_measures_what_the_local_engine_measures(spark, per_hour) -> None:
    rows = [(HOUR_ZERO + timedelta(hours=h, minutes=m),) for h, n in per_hour.items() for m in range(n)]
    frame = spark.createDataFrame(rows, "ingest_time timestamp")
    frame.createOrReplaceTempView("primary")
    [[glue]] = spark.sql(hour_vs_recent_sql("ingest_time", RECENT_HOURS)).collect()
    hour_zero = int(HOUR_ZERO.timestamp()) // 3600
    local = hour_vs_recent_ratio({hour_zero + h: n for h, n in per_hour.items() if n}, RECENT_HOURS)
    assert glue == pytest.approx(local)


def test_a_table_without_files_fails_its_table_level_rules_only(tmp_path: Path) -> None:
    lake = LakeFiles(pafs.LocalFileSystem(), str(tmp_path), tmp_path.as_uri())
    result = evaluate_dataset(table_dataset(lake, WEATHER), WEATHER, NOW)
    failed = {r.rule for r in result.failed}
    assert failed == {"RowCount > 0", render_rule(Fresh("ingest_time", FRESHNESS_MAX_AGE_HOURS))}
    assert result.row_count == 0


def test_range_rules_render_the_contract_limits_inclusively() -> None:
    limits = field_constraints(Stream.WEATHER)["temperature"]
    rule = InRange("temperature", float(limits["minimum"]), float(limits["maximum"]))
    assert render_rule(rule) == (
        f'(ColumnValues "temperature" >= {limits["minimum"]:g}) and '
        f'(ColumnValues "temperature" <= {limits["maximum"]:g})'
    )
