"""The broker dies under the simulator and the streaming job: real processes on the session's stack.

Kafka is SIGKILLed (its whole process group, as a crash would) and started again on the same data
directory. The simulator and ``smartcity stream`` run as the user runs them, in subprocesses; the lake is
read the way Athena reads it (a DuckDB glob over the Parquet files) and reconciled with the simulator's
manifest: per topic, acknowledged = raw + quarantined rows, no Kafka offset twice, no id twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from smartcity.config import Settings, Stream
from smartcity.demo.reset import reset_topics
from smartcity.lake_layout import QUARANTINE_TABLE
from smartcity.simulate.manifest import read_manifest
from tests.integration.crash import sigkill

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def _env(settings: Settings) -> dict[str, str]:
    """What a user's shell would hold for this stack: its home, ports, lake and checkpoints."""
    local = settings.local
    return dict(
        os.environ,
        SMARTCITY_LOCAL__HOME=str(local.home),
        SMARTCITY_LOCAL__KAFKA_PORT=str(local.kafka_port),
        SMARTCITY_LOCAL__KAFKA_CONTROLLER_PORT=str(local.kafka_controller_port),
        SMARTCITY_LOCAL__POSTGRES_PORT=str(local.postgres_port),
        SMARTCITY_LOCAL__MOTO_PORT=str(local.moto_port),
        SMARTCITY_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        SMARTCITY_LAKE_URI=settings.lake_uri,
        SMARTCITY_CHECKPOINT_URI=settings.checkpoint_uri,
    )


def _cli(settings: Settings, output: Path, *args: str) -> subprocess.Popen[bytes]:
    """The command in its own process group, stdout and stderr to ``output`` (a pipe could fill up)."""
    with output.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "smartcity.cli", *args],
            env=_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _finish(proc: subprocess.Popen[bytes], output: Path, timeout: float) -> list[str]:
    """Wait for the command to end; its output lines."""
    proc.wait(timeout)
    return output.read_text(errors="replace").strip().splitlines()


def _run_cli(settings: Settings, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartcity.cli", *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def restored_stack(stack):
    """The session's stack, whole again after the test whatever happened (`smartcity up` is idempotent):
    the tests after this one need a broker."""
    yield stack
    stack.stack.up()


def _start_fresh(settings: Settings) -> None:
    """Empty topics, lake and checkpoints: the session's stack is shared with earlier tests."""
    for uri in (settings.lake_uri, settings.checkpoint_uri):
        shutil.rmtree(_path(uri), ignore_errors=True)
    reset_topics(settings)


def _wait_for(what: str, ready, timeout: float, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout:.0f} s")
        time.sleep(0.5)


def _committed(settings: Settings, batch_id: int) -> bool:
    return (_path(settings.checkpoint_uri) / "query" / "commits" / str(batch_id)).exists()


def _rows_in(settings: Settings) -> Counter[str]:
    """Messages the job has taken in so far, per topic (its latest step's cumulative totals)."""
    files = sorted((_path(settings.lake_uri) / "_metrics" / "stream").glob("step-*.json"))
    totals = json.loads(files[-1].read_text())["totals"] if files else {}
    return Counter({k.removeprefix("rows_in_"): v for k, v in totals.items() if k.startswith("rows_in_")})


def _acknowledged(*manifests: dict) -> Counter[str]:
    """Per topic, what the broker acknowledged over the runs; a run that lost a message fails here."""
    out: Counter[str] = Counter()
    for manifest in manifests:
        assert manifest["complete"] and manifest["totals"]["failed"] == 0, manifest["totals"]
        out.update({topic: t["acknowledged"] for topic, t in manifest["topics"].items()})
    return out


def _glob(lake: Path, table: str) -> str:
    return f"read_parquet('{lake / table}/**/*.parquet', hive_partitioning=true, union_by_name=true)"


def _reconcile(settings: Settings, acknowledged: Counter[str]) -> None:
    """Per topic: raw + quarantined rows = acknowledged; no Kafka offset twice; no raw id twice."""
    lake, db = _path(settings.lake_uri), duckdb.connect()
    landed: Counter[str] = Counter()
    offsets = []
    for stream in Stream:
        topic, table = settings.topics.for_stream(stream), f"raw/{stream.value}"
        if not list((lake / table).rglob("*.parquet")):
            continue
        rows, ids = db.execute(f"select count(*), count(distinct id) from {_glob(lake, table)}").fetchone()
        assert rows == ids, f"{table}: {rows - ids} ids twice"
        landed[topic] += rows
        offsets.append(f"select '{topic}' t, kafka_partition p, kafka_offset o from {_glob(lake, table)}")
    if list((lake / QUARANTINE_TABLE).rglob("*.parquet")):
        for topic, n in db.execute(
            f"select topic, count(*) from {_glob(lake, QUARANTINE_TABLE)} group by 1"
        ).fetchall():
            landed[topic] += n
        quarantine = _glob(lake, QUARANTINE_TABLE)
        offsets.append(f"select topic t, kafka_partition p, kafka_offset o from {quarantine}")
    twice = db.execute(
        f"select t, p, o, count(*) from ({' union all '.join(offsets)}) group by 1, 2, 3 having count(*) > 1"
    ).fetchall()
    assert twice == [], f"Kafka offsets landed twice: {twice[:5]}"
    assert +landed == +acknowledged, "raw + quarantine must equal what the broker acknowledged, per topic"


def _backfill(settings: Settings, manifest: Path, seed: int, start: datetime) -> dict:
    done = _run_cli(
        settings,
        "simulate",
        *("--backfill", "--vehicles", "5", "--duration", "60", "--malformed-rate", "0.05", "--no-progress"),
        *("--seed", str(seed), "--start", start.isoformat(), "--manifest", str(manifest)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return read_manifest(manifest)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL what the test started and did not see end (its whole group: the JVM too)."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _total(rows: Counter[str]) -> int:
    return sum(rows.values())


@pytest.mark.timeout(3600)  # two Spark starts and two broker restarts on a shared 2-core machine
def test_a_broker_down_past_the_patience_stops_the_job_and_one_back_within_it_goes_unnoticed(
    restored_stack, tmp_path
):
    """One stack reset, two ``smartcity stream`` processes, each run reconciled with what the broker
    acknowledged so far.

    1. A job with a 10 s patience takes a backlog 200 messages a step; after its first step Kafka is
       SIGKILLed and stays down: the job exits 2 with one line, the rest of the backlog not taken.
    2. ``smartcity up`` (the line's advice); the same command started again resumes from the
       checkpoint and drains the backlog: reconciled.
    3. The second process, with a patience far longer than a broker restart, while the simulator
       produces live: Kafka SIGKILLed and restarted. The simulator's producer holds and retries what
       the dead broker did not acknowledge; the job's Kafka clients reconnect; neither is restarted, and
       the job stops on SIGTERM with exit 0: reconciled again, nothing lost or twice.
    """
    settings, kafka = restored_stack.settings, restored_stack.stack.component("kafka")
    _start_fresh(settings)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    backlog = _backfill(settings, tmp_path / "backlog.json", 1, start)

    # 1. Down past the patience, a micro-batch of the backlog under way.
    first_log = tmp_path / "stream-1.log"
    job = _cli(
        settings,
        first_log,
        "stream",
        *("--trigger", "1s", "--max-offsets", "200", "--broker-patience", "10s"),
    )
    try:
        _wait_for("a first micro-batch", lambda: _committed(settings, 0), 900, job)
        assert _total(_rows_in(settings)) < _total(_acknowledged(backlog)), "no backlog left to be under way"
        sigkill(kafka)
        lines = _finish(job, first_log, 600)
    finally:
        _stop(job)
    assert job.returncode == 2, lines[-20:]
    last = lines[-1]
    assert last.startswith("smartcity: error: cannot reach Kafka at "), last
    assert "patience 10 s" in last and " up --home " in last, last
    for line in lines[:-1]:  # besides the error, only the steps' metrics lines (no Traceback, no JVM)
        assert json.loads(line)["event"] == "stream_batch", line

    # 2. The advised `up`, then the job again: it resumes where the checkpoint kept its place.
    up = _run_cli(settings, "up", "--home", str(settings.local.home))
    assert up.returncode == 0, up.stderr[-3000:]
    second_log, simulator_log = tmp_path / "stream-2.log", tmp_path / "simulate.log"
    # A patience far longer than a broker restart: the job must not notice the one in step 3.
    job = _cli(settings, second_log, "stream", "--trigger", "1s", "--broker-patience", "5m")
    simulator = None
    try:
        _wait_for("the backlog drained", lambda: _rows_in(settings) >= _acknowledged(backlog), 900, job)
        _reconcile(settings, _acknowledged(backlog))

        # 3. Killed and restarted within the patience while the simulator produces and the job reads.
        live_manifest = tmp_path / "live.json"
        simulator = _cli(
            settings,
            simulator_log,
            "simulate",
            *("--vehicles", "5", "--malformed-rate", "0.05", "--no-progress"),
            *("--seed", "2", "--manifest", str(live_manifest)),
        )
        drained = _total(_rows_in(settings))
        _wait_for("live messages in the lake", lambda: _total(_rows_in(settings)) > drained, 600, job)
        assert simulator.poll() is None, "the simulator ended before the broker was killed"
        sigkill(kafka)  # dead for as long as its restart takes: librdkafka queues and retries meanwhile
        kafka.start()  # same data directory, as `smartcity up` after a crash
        before_restart = _total(_rows_in(settings))
        _wait_for("a step after the restart", lambda: _total(_rows_in(settings)) > before_restart, 600, job)
        simulator.send_signal(signal.SIGTERM)  # stops after the current second, flushes, writes its manifest
        lines = _finish(simulator, simulator_log, 300)
        assert simulator.returncode == 0, lines[-20:]
        acknowledged = _acknowledged(backlog, read_manifest(live_manifest))
        _wait_for("the job to catch up", lambda: _rows_in(settings) >= acknowledged, 600, job)
        job.send_signal(signal.SIGTERM)
        lines = _finish(job, second_log, 300)
    finally:
        _stop(simulator)
        _stop(job)
    assert job.returncode == 0, lines[-20:]
    assert lines[-1].startswith("smartcity stream: stopped by signal after "), lines[-1]
    for line in lines[:-1]:  # the restart within the patience printed nothing: only the steps' metrics lines
        assert json.loads(line)["event"] == "stream_batch", line
    _reconcile(settings, acknowledged)
