"""``smartcity quality [TABLE]`` on a small lake under a temporary home: verdicts, offending row counts,
and exit codes a script can use (0 passed, 1 a rule failed, 2 wrong arguments)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from smartcity.cli import main
from smartcity.config import Stream
from smartcity.demo.quality import print_quality
from smartcity.lake_layout import raw_table
from smartcity.local.stack import private_stack_settings
from smartcity.quality.run import evaluate_tables, select
from tests.unit.test_quality_local import weather_rows, write_table

pytestmark = pytest.mark.unit

WEATHER = raw_table(Stream.WEATHER)


def lake_rows(home: Path, count: int, **overrides: object) -> None:
    """Replace the home's raw weather table by ``count`` fresh rows (``overrides`` on the first)."""
    shutil.rmtree(home / "lake" / WEATHER, ignore_errors=True)
    rows = weather_rows(count, **overrides)
    for row in rows:
        row["ingest_time"] = datetime.now(UTC)
    write_table(home / "lake", WEATHER, rows)


def run(home: Path, *args: str) -> int:
    return main(["quality", "--home", str(home), *args])


def test_valid_table_passes_with_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake_rows(tmp_path, 3)
    assert run(tmp_path, "raw_weather") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "raw_weather (raw/weather): 3 rows, PASSED"
    assert '  passed          0  IsComplete "temperature"  [0 of 3 rows offend]' in out.splitlines()


def test_a_failed_rule_exits_1_and_prints_its_offending_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_rows(tmp_path, 5, temperature=60.5)
    assert run(tmp_path, "raw_weather", "--json") == 1
    [table] = json.loads(capsys.readouterr().out)
    assert table["passed"] is False
    [failed] = [r for r in table["rules"] if r["verdict"] == "failed"]
    assert failed["rule"].startswith('(ColumnValues "temperature" >= -90)') and failed["offending_rows"] == 1


def test_a_stream_that_collapsed_in_its_last_full_hour_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    arrivals = [hour - timedelta(hours=h) + timedelta(minutes=m) for h in (2, 3, 4) for m in range(4)]
    arrivals += [hour - timedelta(minutes=30), hour]  # 1 row in the last full hour, then the newest
    rows = weather_rows(len(arrivals))
    for offset, (row, at) in enumerate(zip(rows, arrivals, strict=True)):
        row["ingest_time"], row["kafka_offset"] = at, offset
    write_table(tmp_path / "lake", WEATHER, rows)
    assert run(tmp_path, "raw_weather") == 1
    [failed] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  failed")]
    assert 'CustomSql "SELECT' in failed and failed.endswith("[last full hour 0.25× the hours before]")


def test_an_unknown_table_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "no_such_table") == 2
    err = capsys.readouterr().err
    assert err.startswith("smartcity: error: unknown table no_such_table (known: raw_vehicle,")
    assert len(err.strip().splitlines()) == 1


def test_an_unknown_flag_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(tmp_path, "raw_weather", "--bogus")
    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_the_demo_prints_each_tables_verdict_and_failed_rules(tmp_path: Path) -> None:
    lake_rows(tmp_path, 3, humidity=101.0)
    settings = private_stack_settings(tmp_path)
    results = evaluate_tables(settings, select(["raw_weather", "vehicle_enriched"]))
    console = Console(record=True, width=300)
    print_quality(console, results)
    text = console.export_text()
    assert (
        "raw_weather" in text
        and '(ColumnValues "humidity" >= 0) and (ColumnValues "humidity" <= 100) (1:' in text
    )
    # The enriched table has no file in this lake: its row-level rules hold, "RowCount > 0" does not.
    assert "vehicle_enriched" in text and "RowCount > 0 (-: no rows)" in text
