"""S3 compaction against moto's S3 and Glue catalog: a new prefix per version, the catalog partition swapped.

The lake is written the way the streaming job leaves it (many small ``part-<step>`` files per hour, a
committed state version), catalogued by the project's crawler; rows are counted by the Athena engine
(``smartcity.query.engine``), which reads a partition's files from its catalog location as Athena does.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from smartcity.catalog.crawler import crawl, glue_client, registered_partitions
from smartcity.catalog.lake_files import open_lake_files
from smartcity.compaction.catalog_swap import point_partition
from smartcity.compaction.s3_run import (
    COMPACTED_ROOT,
    CatalogCompactor,
    compact_catalog_lake,
    open_compactor,
)
from smartcity.config import Settings
from smartcity.local import s3
from smartcity.local.process import free_port
from smartcity.query.engine import run_query
from smartcity.stream.state_version import StateVersion, WatermarkClock
from smartcity.stream.stepid import StepId

pytestmark = [pytest.mark.unit, pytest.mark.moto_server]

TABLE, CATALOG_TABLE = "raw/vehicle", "raw_vehicle"
HOURS, FILES_PER_HOUR, ROWS_PER_FILE = 3, 3, 10
START = datetime(2025, 6, 1, 0, tzinfo=UTC)
PLAN = {"watermark_delay_s": 20.0, "dedup_horizon_s": 600.0, "target_file_bytes": 128 * 1024 * 1024}
GRACE = timedelta(minutes=60)
COUNT_SQL = f"SELECT count(*), count(DISTINCT id) FROM {CATALOG_TABLE}"


@pytest.fixture(scope="module")
def moto_port() -> Iterator[int]:
    """moto's server (S3 and the Glue catalog on one port) for this module."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield port
    finally:
        server.stop()


@pytest.fixture
def settings(moto_port: int, tmp_path: Path) -> Settings:
    """S3-mode settings with a bucket and a catalog database of the test's own."""
    home = tmp_path
    suffix = uuid.uuid4().hex[:10]
    local = {"home": home, "moto_port": moto_port, "data_bucket": f"compact-{suffix}"}
    made = Settings(profile="local", lake="s3", local=local, catalog_database=f"compact_{suffix}")  # type: ignore[arg-type]
    s3.ensure_buckets(made)
    return made


class ManualClock:
    """The compactor's wall clock, moved by the test (the grace period is an hour)."""

    def __init__(self) -> None:
        self.now = datetime(2025, 6, 2, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def write_file(settings: Settings, hour: int, batch: int, first_id: int, rows: int = ROWS_PER_FILE) -> None:
    lake = open_lake_files(settings)
    table = pa.table(
        {
            "id": [f"{first_id + i:08d}" for i in range(rows)],
            "event_time": [START + timedelta(hours=hour, seconds=i) for i in range(rows)],
            "speed": [float(i) for i in range(rows)],
        }
    )
    path = lake.fs_path(f"{TABLE}/dt=2025-06-01/hour={hour:02d}/part-{StepId(batch).key}-0.snappy.parquet")
    pq.write_table(table, path, filesystem=lake.fs, compression="snappy")


def commit(settings: Settings, step: int, watermark: datetime) -> None:
    """The streaming job's commit: a state version with its watermark."""
    lake = open_lake_files(settings)
    root = lake.fs_path_of_uri(settings.checkpoint_uri)
    clock = WatermarkClock(watermark, watermark, None)
    with lake.fs.open_output_stream(f"{root}/enrichment/versions/{StepId(step).key}.json") as f:
        f.write(StateVersion(StepId(step), clock).to_json().encode())


def build_lake(settings: Settings) -> int:
    """HOURS closed hours of small files, catalogued; returns the rows."""
    n = batch = 0
    for h in range(HOURS):
        for _ in range(FILES_PER_HOUR):
            batch += 1
            write_file(settings, h, batch, n)
            n += ROWS_PER_FILE
    commit(settings, batch, START + timedelta(hours=HOURS + 1))
    crawl(settings, [CATALOG_TABLE])
    return n


def counts(settings: Settings) -> tuple[int, int]:
    rows = run_query(settings, COUNT_SQL).rows
    return int(rows[0][0]), int(rows[0][1])


def locations(settings: Settings) -> dict[str, str]:
    parts = registered_partitions(glue_client(settings), settings.catalog_database, CATALOG_TABLE)
    return {v[1]: p["StorageDescriptor"]["Location"] for v, p in parts.items()}


def lake_keys(settings: Settings, prefix: str) -> list[str]:
    lake = open_lake_files(settings)
    return sorted(f.relative for f in lake.list_files(lake.fs_path(prefix)))


def compactor(settings: Settings, clock: ManualClock, **kwargs) -> CatalogCompactor:
    made = open_compactor(settings, grace=GRACE)
    made.now = clock
    for name, value in kwargs.items():
        setattr(made, name, value)
    return made


def test_partitions_move_to_one_file_each_and_readers_never_see_both_or_neither(settings):
    total = build_lake(settings)
    assert counts(settings) == (total, total)
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            seen.append(counts(settings))
            time.sleep(0.2)

    reader = threading.Thread(target=poll, daemon=True)
    reader.start()
    clock = ManualClock()
    try:
        outcomes, collected = compact_catalog_lake(compactor(settings, clock), **PLAN)
    finally:
        stop.set()
        reader.join(60)
    assert [(o.files_in, o.files_out, o.rows) for o in outcomes] == [
        (FILES_PER_HOUR, 1, FILES_PER_HOUR * ROWS_PER_FILE)
    ] * HOURS
    assert collected == []
    assert seen and set(seen) == {(total, total)}
    assert counts(settings) == (total, total)
    for hour, location in locations(settings).items():
        assert f"/{COMPACTED_ROOT}/{TABLE}/dt=2025-06-01/hour={hour}/" in location
    # Inside the grace period the old files stay, for queries that listed them before the swap.
    assert len(lake_keys(settings, TABLE)) == HOURS * FILES_PER_HOUR

    # Idempotent: nothing left to do.
    assert compact_catalog_lake(compactor(settings, clock), **PLAN) == ([], [])

    # After the grace period the superseded files go; the catalog still reads every row once.
    clock.now += GRACE
    outcomes, collected = compact_catalog_lake(compactor(settings, clock), **PLAN)
    assert outcomes == [] and sorted(c.files_deleted for c in collected) == [FILES_PER_HOUR] * HOURS
    assert lake_keys(settings, TABLE) == []
    assert counts(settings) == (total, total)
    # The crawler, run again over the table folder, adds nothing and moves no partition back.
    before = locations(settings)
    crawl(settings, [CATALOG_TABLE])
    assert locations(settings) == before


class Killed(Exception):
    """The compaction job died here."""


class DiesAfterUpdate:
    """The Glue client, dying right after the first UpdatePartition succeeded (before the record says so)."""

    def __init__(self, glue) -> None:
        self._glue = glue
        self.updates = 0

    def __getattr__(self, name):
        return getattr(self._glue, name)

    def update_partition(self, **kwargs):
        self._glue.update_partition(**kwargs)
        self.updates += 1
        if self.updates == 2:
            raise Killed("after UpdatePartition")


@pytest.mark.parametrize("where", ["written", "updated"])
def test_a_run_killed_mid_way_is_finished_by_the_next_one(settings, where):
    total = build_lake(settings)
    clock = ManualClock()

    def die_at_second_written(phase: str, path: str, state={"n": 0}) -> None:  # noqa: B006
        if phase == "written":
            state["n"] += 1
            if state["n"] == 2:
                raise Killed(path)

    first = compactor(settings, clock)
    if where == "written":
        first.hook = die_at_second_written
    else:
        first.glue = DiesAfterUpdate(first.glue)
    with pytest.raises(Killed):
        compact_catalog_lake(first, **PLAN)
    assert counts(settings) == (total, total)

    outcomes, _ = compact_catalog_lake(compactor(settings, clock), **PLAN)
    assert len(outcomes) == HOURS - 1
    assert counts(settings) == (total, total)
    assert all(COMPACTED_ROOT in loc for loc in locations(settings).values())
    compacted = lake_keys(settings, COMPACTED_ROOT)
    assert len(compacted) == HOURS and all(
        k.endswith(f"{StepId(FILES_PER_HOUR * (i + 1)).key}-0.snappy.parquet")
        for i, k in enumerate(compacted)
    )


def test_late_files_join_the_next_version_and_a_newcomer_during_a_run_defers_the_partition(settings):
    total = build_lake(settings)
    clock = ManualClock()
    compact_catalog_lake(compactor(settings, clock), **PLAN)

    # A late file lands in hour 00 (a committed step): the next run merges it with the current version.
    write_file(settings, 0, 100, 10_000, rows=4)
    commit(settings, 100, START + timedelta(hours=HOURS + 1))
    outcomes, _ = compact_catalog_lake(compactor(settings, clock), **PLAN)
    assert [(o.path, o.files_in, o.rows) for o in outcomes] == [
        (f"{TABLE}/dt=2025-06-01/hour=00", 2, FILES_PER_HOUR * ROWS_PER_FILE + 4)
    ]
    assert counts(settings) == (total + 4, total + 4)

    # A file of a step not committed yet waits in its partition: the partition is left as it is.
    write_file(settings, 1, 102, 20_000, rows=3)
    assert compact_catalog_lake(compactor(settings, clock), **PLAN)[0] == []

    # The stream publishes into hour 02 while its compaction is writing: that attempt is dropped.
    write_file(settings, 2, 101, 30_000, rows=5)
    commit(settings, 101, START + timedelta(hours=HOURS + 1))

    def publish_meanwhile(phase: str, path: str) -> None:
        if phase == "written" and path.endswith("hour=02"):
            write_file(settings, 2, 102, 40_000, rows=2)

    before = locations(settings)["02"]
    outcomes, _ = compact_catalog_lake(compactor(settings, clock, hook=publish_meanwhile), **PLAN)
    assert outcomes == []
    assert locations(settings)["02"] == before
    assert not [k for k in lake_keys(settings, COMPACTED_ROOT) if StepId(101).key in k]

    # Once step 102 is committed, hours 01 and 02 are compacted with every row.
    commit(settings, 102, START + timedelta(hours=HOURS + 1))
    outcomes, _ = compact_catalog_lake(compactor(settings, clock), **PLAN)
    assert sorted(o.path.rsplit("=", 1)[-1] for o in outcomes) == ["01", "02"]
    assert counts(settings) == (total + 4 + 3 + 5 + 2,) * 2


def test_a_location_moved_back_is_restored_before_anything_is_deleted(settings):
    total = build_lake(settings)
    clock = ManualClock()
    compact_catalog_lake(compactor(settings, clock), **PLAN)
    # Something (an undocumented crawler behaviour, a person) points hour 01 back at the table folder.
    lake = open_lake_files(settings)
    point_partition(
        glue_client(settings),
        settings.catalog_database,
        CATALOG_TABLE,
        ["2025-06-01", "01"],
        lake.uri(f"{TABLE}/dt=2025-06-01/hour=01"),
    )
    assert counts(settings) == (total, total)  # the superseded files are still there
    clock.now += GRACE
    compact_catalog_lake(compactor(settings, clock), **PLAN)
    assert COMPACTED_ROOT in locations(settings)["01"]
    assert counts(settings) == (total, total)


def test_partitions_older_than_the_lookback_are_not_listed(settings):
    total = build_lake(settings)
    lake = open_lake_files(settings)
    old_day = (START - timedelta(days=3)).date()
    for batch in (1, 2):
        table = pa.table({"id": [f"old{batch}"], "event_time": [START - timedelta(days=3)], "speed": [1.0]})
        path = f"{TABLE}/dt={old_day}/hour=00/part-{StepId(batch).key}-0.snappy.parquet"
        pq.write_table(table, lake.fs_path(path), filesystem=lake.fs)
    crawl(settings, [CATALOG_TABLE])
    outcomes, _ = compact_catalog_lake(compactor(settings, ManualClock()), **PLAN)
    assert sorted(o.path.rsplit("/", 2)[1] for o in outcomes) == ["dt=2025-06-01"] * HOURS
    assert counts(settings) == (total + 2, total + 2)
    assert len(lake_keys(settings, f"{TABLE}/dt={old_day}")) == 2  # left as the stream wrote it
