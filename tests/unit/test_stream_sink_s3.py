"""The step's publish protocol on S3 (moto's S3 API through S3A), where a rename is a COPY then a DELETE.

A reader that lists a table's files (the query engine, the crawler, the loader:
``smartcity.catalog.lake_files``) probes the bucket after every operation of the publish, including a crash
between a rename's COPY and its DELETE: it must never see a row twice nor any name but a published one, and
the step's replay must leave every row exactly once. The S3 request count the job reports is checked against
moto's own request log.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from smartcity.catalog.exclusions import is_excluded
from smartcity.catalog.lake_files import open_lake_files
from smartcity.config import Settings
from smartcity.local import s3
from smartcity.local.process import free_port
from smartcity.stream.hadoop_fs import HadoopFS
from smartcity.stream.sink import StepCommit, TableOutput
from smartcity.stream.stepid import StepId

pytestmark = [pytest.mark.unit, pytest.mark.moto_server]

TABLES = ("raw/vehicle", "quarantine")
PUBLISHED_NAME = re.compile(r"part-\d{15}-batch-\d{5}\.snappy\.parquet")


class RequestLog(logging.Handler):
    """moto's request log: one werkzeug line per HTTP request the server answered."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.requests = 0

    def emit(self, record: logging.LogRecord) -> None:
        if '" ' in record.getMessage() and "HTTP/1.1" in record.getMessage():
            self.requests += 1


@pytest.fixture(scope="module")
def moto_s3(spark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, RequestLog]]:
    """moto's S3 on a free port, a bucket of this module's own, and the shared session's S3A pointed there."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=True)
    server.start()
    log = RequestLog()
    logging.getLogger("werkzeug").addHandler(log)
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    home = tmp_path_factory.mktemp("sink-s3-home")
    settings = Settings(
        profile="local",
        lake="s3",
        local={"home": home, "moto_port": port, "data_bucket": f"sink-{uuid.uuid4().hex[:12]}"},  # type: ignore[arg-type]
    )
    s3.ensure_buckets(settings)
    s3.configure_session(spark.sparkContext._jsc.hadoopConfiguration(), settings)
    try:
        yield settings, log
    finally:
        logging.getLogger("werkzeug").removeHandler(log)
        server.stop()


def _frames(spark):
    raw = spark.createDataFrame(
        [(n, "2025-06-01", f"{10 + n % 3:02d}") for n in range(30)], "n int, dt string, hour string"
    )
    quarantine = spark.createDataFrame(
        [(100 + n, "2025-06-01", "10") for n in range(5)], "n int, dt string, hour string"
    )
    return [
        TableOutput("raw/vehicle", raw, ("dt", "hour"), single_task=False),
        TableOutput("quarantine", quarantine, ("dt", "hour")),
    ]


def _visible(settings: Settings) -> dict[str, list[int]]:
    """Per table, the ``n`` of every row a listing reader sees; asserts it sees only published names."""
    lake = open_lake_files(settings)
    seen: dict[str, list[int]] = {}
    for table in TABLES:
        files = [f for f in lake.list_files(lake.fs_path(table)) if not is_excluded(f.relative)]
        for f in files:
            assert PUBLISHED_NAME.fullmatch(f.relative.rsplit("/", 1)[-1]), f.relative
        seen[table] = [
            n
            for f in files
            for n in pq.read_table(f.fs_path, filesystem=lake.fs, columns=["n"])["n"].to_pylist()
        ]
    return seen


def _assert_never_twice(settings: Settings) -> dict[str, list[int]]:
    seen = _visible(settings)
    for table, values in seen.items():
        twice = [n for n, c in Counter(values).items() if c > 1]
        assert twice == [], f"a reader of {table} sees rows {twice} twice"
    return seen


class Crash(Exception):
    """The job died here."""


class ProbedFS(HadoopFS):
    """The job's filesystem, with a reader probing the lake after every rename; the ``crash_at``-th
    rename stops after S3's COPY, before its DELETE (both keys exist), and the job dies there."""

    def __init__(self, spark, settings: Settings, crash_at: int | None = None) -> None:
        super().__init__(spark)
        self.settings = settings
        self.crash_at = crash_at
        self.renames = 0
        self.probes = 0
        self.copies_seen_twice = 0

    def rename(self, src: str, dst: str) -> None:
        self.renames += 1
        if self.renames == self.crash_at:
            s, d = urlparse(src), urlparse(dst)
            client = boto3.client("s3", **self.settings.boto3_kwargs())
            client.copy_object(
                Bucket=d.netloc,
                Key=d.path.lstrip("/"),
                CopySource={"Bucket": s.netloc, "Key": s.path.lstrip("/")},
            )
            assert self.exists(src) and self.exists(dst)  # the state between COPY and DELETE
            self.copies_seen_twice += 1
            self._probe()
            raise Crash(dst)
        super().rename(src, dst)
        self._probe()

    def _probe(self) -> None:
        _assert_never_twice(self.settings)
        self.probes += 1


def _clear(settings: Settings) -> None:
    s3.delete_prefixes(settings, [settings.lake_uri, settings.checkpoint_uri])


@pytest.mark.parametrize("crash_at", [1, 4])  # the first move of raw, a move in the second publish
def test_a_crash_between_copy_and_delete_and_the_replay_never_show_a_row_twice(spark, moto_s3, crash_at):
    settings, _ = moto_s3
    _clear(settings)
    step = StepId(7)
    fs = ProbedFS(spark, settings, crash_at=crash_at)
    commit = StepCommit(fs, settings.lake_uri, settings.checkpoint_uri, step)
    commit.begin()
    commit.stage_all(_frames(spark))
    with pytest.raises(Crash):
        commit.publish(tables=["raw/vehicle"])
        commit.publish()
    assert fs.copies_seen_twice == 1
    partial = _assert_never_twice(settings)
    # The copy that completed is visible (whole), its staged source too; nothing else of the step moved on.
    assert 0 < sum(map(len, partial.values())) <= 35

    # The restarted job replays the step: begin removes what the record lists, the publish completes.
    replay_fs = ProbedFS(spark, settings)
    replay = StepCommit(replay_fs, settings.lake_uri, settings.checkpoint_uri, step)
    assert replay.begin() == commit.ingest_time
    _assert_never_twice(settings)
    replay.stage_all(_frames(spark))
    replay.publish(tables=["raw/vehicle"])
    replay.publish()
    assert replay_fs.probes == replay_fs.renames >= 4
    final = _assert_never_twice(settings)
    assert sorted(final["raw/vehicle"]) == list(range(30))
    assert sorted(final["quarantine"]) == [100 + n for n in range(5)]
    assert fs.list_files(replay.staging_uri) == []


def test_store_requests_count_every_request_moto_answers(spark, moto_s3):
    settings, log = moto_s3
    _clear(settings)
    fs = HadoopFS(spark)
    commit = StepCommit(fs, settings.lake_uri, settings.checkpoint_uri, StepId(8))
    commit.begin()
    commit.stage_all(_frames(spark))
    time.sleep(1)  # moto logs a request after answering it: let the staging's last lines arrive
    counted_before, logged_before = fs.store_requests(settings.lake_uri), log.requests
    assert counted_before is not None
    published = commit.publish()
    time.sleep(1)
    counted = fs.store_requests(settings.lake_uri) - counted_before
    logged = log.requests - logged_before
    assert len(published) >= 4
    # Every request, the copies' HEADs of their sources included (S3A's per-verb counters miss those).
    assert counted == logged > 3 * len(published)
    assert fs.store_requests(Path(tempfile.gettempdir()).as_uri()) is None  # not on S3: no figure
