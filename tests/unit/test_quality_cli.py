"""``smartcity quality [TABLE]`` on a small lake under a temporary home: verdicts, offending row counts,
exit codes a script can use (0 passed, 1 a rule failed, 2 wrong arguments), and the history it keeps."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
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


def test_valid_table_passes_with_exit_0_and_one_history_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_rows(tmp_path, 3)
    assert run(tmp_path, "raw_weather") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "raw_weather (raw/weather): 3 rows, PASSED"
    assert '  passed          0  IsComplete "temperature"  [0 of 3 rows offend]' in out.splitlines()
    [line] = (tmp_path / "quality" / "history.jsonl").read_text().splitlines()
    assert json.loads(line)["row_count"] == 3 and json.loads(line)["table"] == WEATHER


def test_a_failed_rule_exits_1_and_prints_its_offending_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_rows(tmp_path, 5, temperature=60.5)
    assert run(tmp_path, "raw_weather", "--json") == 1
    [table] = json.loads(capsys.readouterr().out)
    assert table["passed"] is False
    [failed] = [r for r in table["rules"] if r["verdict"] == "failed"]
    assert failed["rule"].startswith('(ColumnValues "temperature" >= -90)') and failed["offending_rows"] == 1


def test_row_count_is_judged_against_the_previous_runs_kept_in_the_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_rows(tmp_path, 10)
    assert run(tmp_path, "raw_weather") == 0
    lake_rows(tmp_path, 4)  # fewer than half the previous count: rows were lost
    assert run(tmp_path, "raw_weather") == 1
    assert (
        "failed          -  RowCount >= avg(last(10)) * 0.5  [4 rows; floor 5.0]" in capsys.readouterr().out
    )


def test_an_unknown_table_exits_2_with_one_line_and_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "no_such_table") == 2
    err = capsys.readouterr().err
    assert err.startswith("smartcity: error: unknown table no_such_table (known: raw_vehicle,")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "quality").exists()


def test_an_unknown_flag_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(tmp_path, "raw_weather", "--bogus")
    assert exited.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_corrupt_history_line_is_a_one_line_error_that_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_rows(tmp_path, 2)
    history = tmp_path / "quality" / "history.jsonl"
    history.parent.mkdir(parents=True)
    history.write_text('{"table": "raw/weather", "row_count": 2}\nnot json\n')
    assert run(tmp_path, "raw_weather") == 2
    assert f"{history}:2 is not a quality history entry" in capsys.readouterr().err
    assert history.read_text() == '{"table": "raw/weather", "row_count": 2}\nnot json\n'


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
