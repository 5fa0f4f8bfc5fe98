"""Compaction on a real lake directory, watched by a reader that counts rows the way readers do.

The lake is written the way the streaming job leaves it (hourly partitions of many small Parquet
files named per step, a committed state version with the watermark); readers are DuckDB globs over the
table, as Athena-like listing readers read it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smartcity.compaction.plan import COMPACTED_PREFIX
from smartcity.compaction.run import compact_lake
from smartcity.stream.state_version import StateVersion, WatermarkClock
from smartcity.stream.stepid import StepId

pytestmark = pytest.mark.integration

HOURS = 6
FILES_PER_HOUR = 40
ROWS_PER_FILE = 25
COMMITTED = StepId(10_000)
SETTINGS = {"watermark_delay_s": 20.0, "dedup_horizon_s": 600.0, "target_file_bytes": 128 * 1024 * 1024}
TABLE = "raw/vehicle"


def build_lake(root: Path) -> tuple[Path, Path, int]:
    """A lake of HOURS closed hours of many small files, and a checkpoint whose watermark closes them."""
    lake, checkpoint = root / "lake", root / "checkpoint"
    start = datetime(2025, 6, 1, 0, tzinfo=UTC)
    n = 0
    batch = 0
    for h in range(HOURS):
        folder = lake / TABLE / "dt=2025-06-01" / f"hour={h:02d}"
        folder.mkdir(parents=True)
        for _ in range(FILES_PER_HOUR):
            batch += 1
            ids = [f"{n + i:08d}" for i in range(ROWS_PER_FILE)]
            n += ROWS_PER_FILE
            rows = pa.table(
                {
                    "id": ids,
                    "event_time": [start + timedelta(hours=h, seconds=i) for i in range(ROWS_PER_FILE)],
                    "speed": [float(i) for i in range(ROWS_PER_FILE)],
                }
            )
            pq.write_table(rows, folder / f"part-{StepId(batch).key}-0.snappy.parquet", compression="snappy")
    versions = checkpoint / "enrichment" / "versions"
    versions.mkdir(parents=True)
    clock = WatermarkClock(start + timedelta(hours=HOURS + 1), start + timedelta(hours=HOURS + 1), None)
    (versions / f"{COMMITTED.key}.json").write_text(StateVersion(COMMITTED, clock).to_json())
    return lake, checkpoint, n


def read_rows(lake: Path) -> list[tuple]:
    return (
        duckdb.connect()
        .execute(
            f"select id, event_time, speed, hour from read_parquet('{lake / TABLE}/**/*.parquet', "
            "hive_partitioning=true) order by id"
        )
        .fetchall()
    )


def table_files(lake: Path) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in (lake / TABLE).rglob("*.parquet"))


class Reader(threading.Thread):
    """Counts the table's rows and distinct ids through a DuckDB glob, again and again."""

    def __init__(self, lake: Path) -> None:
        super().__init__(daemon=True)
        self.glob = f"{lake / TABLE}/**/*.parquet"
        self.counts: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        db = duckdb.connect()
        while not self.stop.is_set():
            try:
                self.counts.append(
                    db.execute(
                        f"select count(*), count(distinct id) from read_parquet('{self.glob}')"
                    ).fetchone()
                )
            except duckdb.Error as exc:  # a file listed, then moved away before it was opened
                self.errors.append(str(exc).splitlines()[0])


def test_a_reader_polling_during_compaction_never_double_counts_or_misses(tmp_path):
    lake, checkpoint, total = build_lake(tmp_path)
    before = read_rows(lake)
    reader = Reader(lake)
    reader.start()
    time.sleep(0.5)
    try:
        outcomes = compact_lake(lake, checkpoint, **SETTINGS)
        time.sleep(0.5)
    finally:
        reader.stop.set()
        reader.join(30)
    assert len(outcomes) == HOURS and {o.files_in for o in outcomes} == {FILES_PER_HOUR}
    assert len(reader.counts) >= 10, reader.counts
    assert set(reader.counts) == {(total, total)}, "a reader saw rows twice or missed some"
    assert read_rows(lake) == before
    assert all(name.split("/")[-1].startswith(COMPACTED_PREFIX) for name in table_files(lake))
    assert len(table_files(lake)) == HOURS
    assert not (lake / "_staging" / "compaction" / TABLE).exists() or not any(
        (lake / "_staging" / "compaction" / TABLE).rglob("*.parquet")
    )
    # Nothing left to do: a second run compacts nothing.
    assert compact_lake(lake, checkpoint, **SETTINGS) == []


class Crash(Exception):
    pass


@pytest.mark.parametrize("phase", ["staged", "swapped"])
def test_killed_between_phases_then_rerun_gives_the_same_result(tmp_path, phase):
    clean_lake, clean_checkpoint, _ = build_lake(tmp_path / "clean")
    compact_lake(clean_lake, clean_checkpoint, **SETTINGS)

    lake, checkpoint, _ = build_lake(tmp_path / "crashed")
    before = read_rows(lake)
    seen: list[str] = []

    def crash_on_third(at: str, compaction) -> None:
        if at == phase:
            seen.append(compaction.partition.path)
            if len(seen) == 3:
                raise Crash(at)

    with pytest.raises(Crash):
        compact_lake(lake, checkpoint, hook=crash_on_third, **SETTINGS)
    # Killed mid-way, a reader still sees every row once.
    assert read_rows(lake) == before
    compact_lake(lake, checkpoint, **SETTINGS)
    assert read_rows(lake) == before
    assert table_files(lake) == table_files(clean_lake)
    for name in table_files(lake):
        assert pq.read_table(lake / name).equals(pq.read_table(clean_lake / name)), name


def test_a_file_the_stream_publishes_during_compaction_stays_visible(tmp_path):
    lake, checkpoint, total = build_lake(tmp_path)
    late = pa.table({"id": ["late-1"], "event_time": [datetime(2025, 6, 1, 2, tzinfo=UTC)], "speed": [1.0]})
    late_name = f"part-{StepId(COMMITTED.batch_id + 1).key}-0.snappy.parquet"

    def publish_late_rows(at: str, compaction) -> None:
        if at == "staged" and compaction.partition.hour == "02":
            # After staging, before the swap: the step's file lands in the live partition directory.
            pq.write_table(late, lake / compaction.partition.path / late_name)

    compact_lake(lake, checkpoint, hook=publish_late_rows, **SETTINGS)
    rows = read_rows(lake)
    assert len(rows) == total + 1 and rows[-1][0] == "late-1"
    assert (lake / TABLE / "dt=2025-06-01" / "hour=02" / late_name).exists()


@pytest.mark.timeout(600)
def test_sigkill_mid_run_then_rerun_is_idempotent(tmp_path):
    lake, checkpoint, _ = build_lake(tmp_path)
    before = read_rows(lake)
    env = dict(os.environ, SMARTCITY_LAKE_URI=lake.as_uri(), SMARTCITY_CHECKPOINT_URI=checkpoint.as_uri())
    records = checkpoint / "compaction" / TABLE / "dt=2025-06-01"
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartcity.cli", "compact"], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            done = [
                p for p in records.glob("*.json") if json.loads(p.read_text() or "{}").get("status") == "done"
            ]
            if len(done) >= 2:
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-way"
    assert read_rows(lake) == before
    rerun = subprocess.run(
        [sys.executable, "-m", "smartcity.cli", "compact"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert read_rows(lake) == before
    assert len(table_files(lake)) == HOURS
    assert all(json.loads(p.read_text())["status"] == "done" for p in records.glob("*.json"))
