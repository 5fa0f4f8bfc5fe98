"""publish_live on Spark frames shaped as a step holds them: the step's one collect brings its rows (the
snapshot has no Spark job of its own), the snapshot object is replaced whole, the step's traffic files are
found through its sink record, and a failure never reaches the step;
and in the job's step: published before the commit, and a replay after a failed commit publishes the same
snapshot."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import Row

from smartcity.config import Stream, StreamSettings
from smartcity.contract import raw_columns, spark_schema
from smartcity.local.stack import private_stack_settings
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.sinks import MemorySink
from smartcity.simulate.world import WorldParams
from smartcity.stream.collect import collect_together
from smartcity.stream.engine import engine_counts
from smartcity.stream.enrichment_state import WrittenSegment
from smartcity.stream.hadoop_fs import HadoopFS
from smartcity.stream.job import StreamJob
from smartcity.stream.live import latest_frame, publish_live, snapshot_uri
from smartcity.stream.metrics import metrics_uri
from smartcity.stream.sink import StepCommit
from smartcity.stream.source import KAFKA_SOURCE_SCHEMA
from smartcity.stream.state_version import WatermarkClock
from smartcity.stream.step import STATE_COLUMNS, JudgedCounts, StepPlan
from smartcity.stream.stepid import StepId

pytestmark = pytest.mark.unit

T = datetime(2026, 12, 1, 11, 0, 0, tzinfo=UTC)


def _state(spark, kind: str, rows: list[dict]):
    raw = {
        "vehicle": Stream.VEHICLE,
        "gps": Stream.GPS,
        "weather": Stream.WEATHER,
        "emergency": Stream.EMERGENCY,
    }[kind]
    fields = {f.name: f for f in spark_schema(raw_columns(raw)).fields}
    from pyspark.sql import types as T_

    schema = T_.StructType([T_.StructField(c, fields[c].dataType, True) for c in STATE_COLUMNS[kind]])
    return spark.createDataFrame([Row(**{c: r.get(c) for c in STATE_COLUMNS[kind]}) for r in rows], schema)


def _step(spark, tmp_path: Path, traffic_rows: int):
    lake, checkpoint = (tmp_path / "lake").as_uri(), (tmp_path / "ckpt").as_uri()
    fs = HadoopFS(spark)
    commit = StepCommit(fs, lake, checkpoint, StepId(7))
    files = []
    if traffic_rows:
        traffic_dir = tmp_path / "lake" / "raw" / "traffic" / "dt=2026-12-01" / "hour=11"
        spark.createDataFrame(
            [
                Row(
                    id=f"t{i}",
                    device_id="d",
                    event_time=T,
                    camera_id=f"cam-{i % 2}",
                    latitude=51.5,
                    longitude=-0.1,
                )
                for i in range(traffic_rows)
            ]
        ).coalesce(1).write.parquet(str(traffic_dir / "_tmp"))
        part = next((traffic_dir / "_tmp").glob("*.parquet"))
        final = traffic_dir / "part-000000000007-batch-00000.snappy.parquet"
        part.rename(final)
        files.append(f"file://{final}")  # as the job names files (join_uri), "=" unescaped
    fs.write_text(
        commit.record_uri, json.dumps({"step": commit.step.key, "ingest_time": T.isoformat(), "files": files})
    )
    vehicles = _state(
        spark,
        "vehicle",
        [
            {
                "id": "v1",
                "device_id": "a",
                "event_time": T,
                "latitude": 51.5,
                "longitude": -0.1,
                "cell_id": "1030:-2",
                "speed": 10.0,
            },
            {
                "id": "v2",
                "device_id": "a",
                "event_time": T.replace(second=5),
                "latitude": 51.51,
                "longitude": -0.1,
                "cell_id": "1030:-2",
                "speed": 20.0,
            },
            {
                "id": "v3",
                "device_id": "b",
                "event_time": T,
                "latitude": 51.52,
                "longitude": -0.1,
                "cell_id": "1030:-2",
                "speed": 30.0,
            },
        ],
    )
    weather = _state(
        spark,
        "weather",
        [
            {
                "id": "w1",
                "device_id": "ws",
                "event_time": T.replace(minute=0, second=0),
                "cell_id": "1030:-2",
                "weather_condition": "Rain",
                "temperature": 5.0,
                "precipitation": 1.0,
            }
        ],
    )
    emergency = _state(
        spark,
        "emergency",
        [
            {
                "id": "e1",
                "incident_id": "inc",
                "type": "Fire",
                "event_time": T,
                "latitude": 51.5,
                "longitude": -0.1,
                "status": "Active",
            }
        ],
    )
    empty = {k: _state(spark, k, []) for k in ("vehicle", "weather", "emergency")}
    plan = StepPlan(
        None,
        WatermarkClock(max_event_time=T.replace(second=5)),
        {},
        JudgedCounts(),
        {"weather": weather, "emergency": empty["emergency"]},  # the state before the step
        {"weather": empty["weather"], "emergency": emergency},  # the step's on-time reports
        None,
        StreamSettings(),
    )  # type: ignore[arg-type]
    written = WrittenSegment(
        {"vehicle": vehicles, "weather": empty["weather"], "emergency": emergency}, {}, {}
    )
    return fs, lake, commit, plan, written


def collected(fs: HadoopFS, commit: StepCommit, plan: StepPlan, written: WrittenSegment):
    """The step's rows on the driver, as the job collects them."""
    frames = {**plan.side_frames(), "latest": latest_frame(fs, commit, written)}
    return collect_together(frames, "test collect")


def test_the_steps_one_collect_brings_the_snapshot_its_rows_and_it_replaces_the_object(
    spark, tmp_path: Path
) -> None:
    fs, lake, commit, plan, written = _step(spark, tmp_path, traffic_rows=4)
    publish_live(fs, lake, commit, plan, collected(fs, commit, plan, written))  # warm-up: Python worker
    before = engine_counts(spark)
    snap = publish_live(fs, lake, commit, plan, collected(fs, commit, plan, written))
    assert (engine_counts(spark) - before).jobs == 1  # the collect; the snapshot itself runs none
    assert snap is not None
    assert snap["cost"]["spark_jobs"] == 0
    stored = json.loads(Path(snapshot_uri(lake).removeprefix("file://")).read_text())
    assert stored == snap
    v = stored["vehicles"]
    assert dict(zip(v["device_id"], v["speed"], strict=True)) == {"a": 20.0, "b": 30.0}
    # b is 2.2 km from the incident (outside the radius); a, at its latest position, 1.1 km.
    assert v["weather_condition"] == ["Rain", "Rain"] and v["incident_id"] == ["inc", None]
    assert stored["cameras"]["camera_id"] == ["cam-0", "cam-1"]
    assert stored["incidents"]["incident_id"] == ["inc"]
    assert not list((tmp_path / "lake" / "_live").glob("*.tmp"))


def test_a_failing_publish_is_logged_not_raised(
    spark, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fs, lake, commit, plan, _ = _step(spark, tmp_path, traffic_rows=0)
    assert publish_live(fs, lake, commit, plan, {}) is None  # rows missing: building it fails
    assert "live snapshot of step" in caplog.text
    assert not Path(snapshot_uri(lake).removeprefix("file://")).exists()


def _city_batch(spark, topics, seconds: float = 4.0, vehicles: int = 10):
    """A few seconds of the simulated city, ending now, as Spark's Kafka source hands them to a step."""
    sink = MemorySink(topics)
    start = epoch_ms(datetime.now(UTC)) - int(seconds * 1000)
    config = RunConfig(
        world=WorldParams(vehicles=vehicles), mode="backfill", start_ms=start, duration_s=seconds
    )
    Simulation(config, sink).run()
    offsets: dict[str, int] = {}
    rows = []
    received = datetime.now(UTC)
    for topic, key, value, _ in sink.messages:
        offsets[topic] = offsets.get(topic, -1) + 1
        rows.append((key.encode(), value.encode(), topic, 0, offsets[topic], received, 0))
    return spark.createDataFrame(rows, KAFKA_SOURCE_SCHEMA)


def test_published_before_the_commit_and_a_replay_publishes_the_same_snapshot(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = private_stack_settings(tmp_path)
    job = StreamJob(spark, settings, settings.stream)
    batch = _city_batch(spark, settings.topics.all())
    step = StepId(0)

    def lost(version: object) -> None:
        raise RuntimeError("commit lost")

    monkeypatch.setattr(job.store, "commit", lost)
    with pytest.raises(RuntimeError, match="commit lost"):
        job.run_step(step, batch)
    path = Path(snapshot_uri(settings.lake_uri).removeprefix("file://"))
    first = json.loads(path.read_text())
    assert first["step"] == step.key and len(first["vehicles"]["device_id"]) == 10
    assert not Path(metrics_uri(settings.lake_uri, step).removeprefix("file://")).exists()

    monkeypatch.undo()
    job.run_step(step, batch)  # Spark replays the micro-batch whose commit failed
    replayed = json.loads(path.read_text())
    for part in ("vehicles", "incidents", "weather", "cameras", "now_ms", "clock"):
        assert replayed[part] == first[part], part
