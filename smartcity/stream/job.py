"""The streaming job: Kafka (five topics, one source) → raw, quarantine and vehicle_enriched, exactly once.

One Structured Streaming query with ``foreachBatch``; each micro-batch is a *step* (see ``sink`` for the
publish protocol and ``step`` for the event-time rules). Runs the same on a laptop (``smartcity
stream``) and on Glue (``glue_streaming/job.py``): only the session, the Kafka auth options and the
metrics client differ, and they are passed in.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartcity.config import Settings, Stream
from smartcity.contract import enriched_columns, raw_columns, spark_schema
from smartcity.stream.engine import engine_counts
from smartcity.stream.lakefs import LakeFS, join_uri
from smartcity.stream.metrics import BatchMetrics, emit
from smartcity.stream.settings import StreamSettings
from smartcity.stream.sink import StepCommit, version_of
from smartcity.stream.source import kafka_options
from smartcity.stream.step import (
    CANDIDATE_KINDS,
    Clock,
    StreamCounts,
    count_judged,
    final_enriched,
    live,
    state_cutoffs,
    step,
)
from smartcity.stream.store import Segment, StateStore, StateVersion, state_schemas
from smartcity.stream.validate import Validated, judge, stream_frame, validate

log = logging.getLogger("smartcity.stream")

KAFKA_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
    ]
)
RAW_TABLE = "raw/{stream}"
QUARANTINE_TABLE = "quarantine"
ENRICHED_TABLE = "enriched/vehicle_enriched"


@dataclass
class RunResult:
    batches: int
    flushed: bool
    stopped_by_signal: bool


class StreamJob:
    """Owns the per-step logic; ``run`` drives it from a Kafka stream, ``flush`` closes open windows."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        cfg: StreamSettings,
        *,
        cloudwatch: Any | None = None,
        job_name: str = "smartcity-streaming",
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.cfg = cfg
        self.fs = LakeFS(spark)
        self.lake = settings.lake_uri
        self.checkpoint = settings.checkpoint_uri
        raw_schemas = {s.value: spark_schema(raw_columns(s)) for s in Stream}
        self.store = StateStore(spark, self.fs, self.checkpoint, state_schemas(raw_schemas))
        self.topics = settings.topics.all()
        self.cloudwatch = cloudwatch
        self.job_name = job_name
        self._stop = threading.Event()
        self.batches = 0
        self._frame_schemas: dict[Stream, T.StructType] = {}
        self._query: Any | None = None  # the running StreamingQuery (for the Kafka source's lag metric)

    # ----------------------------------------------------------------- one step
    def process_batch(self, kafka_df: DataFrame, batch_id: int) -> None:
        """``foreachBatch`` callback: one micro-batch is one step."""
        self._step(batch_id, kafka_df, flush=False)
        self.batches += 1

    def _step(self, batch_id: int, kafka_df: DataFrame, *, flush: bool) -> BatchMetrics:
        started = time.monotonic()
        engine_before = engine_counts(self.spark)
        version = version_of(batch_id, flush)
        commit = StepCommit(self.fs, self.lake, self.checkpoint, version)
        ingest_time = commit.begin()
        previous = self.store.latest(below=version)
        clock = previous.clock if previous else Clock()
        cutoffs = state_cutoffs(clock.watermark, self.cfg) if clock.watermark else {}
        state = {k: live(df, k, cutoffs) for k, df in self.store.frames(previous).items()}

        # One partition per core: 5 topics x N partitions of small tasks cost more than they parallelise.
        parallelism = self.spark.sparkContext.defaultParallelism
        if kafka_df.rdd.getNumPartitions() > parallelism:
            kafka_df = kafka_df.coalesce(parallelism)
        judged = None
        validated: dict[Stream, Validated] = {}
        if flush:
            # A flush step has no input: frames the optimizer knows are empty, so the raw and quarantine
            # plans over them are pruned instead of running their jobs (most of a flush's cost).
            validated = {s: Validated(s, self._empty_frame(s, ingest_time)) for s in self.topics}
        else:
            # Every message judged in one pass and kept: each table, count and state segment reads it.
            judged = judge(
                kafka_df,
                {topic: stream for stream, topic in self.topics.items()},
                ingest_time=ingest_time,
                max_future_s=self.cfg.max_future_s,
            ).persist(StorageLevel.MEMORY_AND_DISK)
            for stream, topic in self.topics.items():
                validated[stream] = stream_frame(
                    judged.where(F.col("topic") == topic),
                    stream,
                    ingest_time=ingest_time,
                    cell_size_deg=self.cfg.cell_size_deg,
                )
        lap = _Laps({}, since=started)
        lap("prepare")  # state version, state frames, the plans
        try:
            metrics = self._publish(
                batch_id, version, flush, commit, ingest_time, previous, clock, state, judged, validated, lap
            )
        finally:
            if judged is not None:
                judged.unpersist()
        self.store.collect_garbage()
        lap("commit")  # state version, old segments removed
        metrics.duration_s = round(time.monotonic() - started, 3)
        spent = engine_counts(self.spark) - engine_before
        metrics.spark_jobs, metrics.generated_classes = spent.jobs, spent.generated_classes
        emit(
            metrics,
            fs=self.fs,
            lake_uri=self.lake,
            version=version,
            cloudwatch=self.cloudwatch,
            namespace=self.cfg.cloudwatch_namespace,
            job_name=self.job_name,
        )
        return metrics

    def _empty_frame(self, stream: Stream, ingest_time: datetime) -> DataFrame:
        """A validated frame with no rows (the flush step's input): only the schema of the validation.

        The schema is taken from an unexecuted plan once per job; a flush reads nothing.
        """
        schema = self._frame_schemas.get(stream)
        if schema is None:
            schema = validate(
                self.spark.createDataFrame([], KAFKA_SCHEMA).limit(0),
                stream,
                ingest_time=ingest_time,
                max_future_s=self.cfg.max_future_s,
                cell_size_deg=self.cfg.cell_size_deg,
            ).frame.schema
            self._frame_schemas[stream] = schema
        # limit(0): see ``flush``; an opaque empty RDD would still run a job per plan built on it.
        return self.spark.createDataFrame([], schema).limit(0)

    def _publish(
        self,
        batch_id: int,
        version: int,
        flush: bool,
        commit: StepCommit,
        ingest_time: datetime,
        previous: StateVersion | None,
        clock: Clock,
        state: dict[str, DataFrame],
        judged: DataFrame | None,
        validated: dict[Stream, Validated],
        lap: _Laps,
    ) -> BatchMetrics:
        m = BatchMetrics(batch_id=batch_id, flush=flush, ingest_time=ingest_time.isoformat())
        m.kafka_offsets_behind = _offsets_behind(self._query)
        m.phases = lap.into
        counts: dict[Stream, StreamCounts] = {}  # a flush judges nothing
        if judged is not None:
            # The one job over the judged messages (it materialises the cache): the metrics' messages and
            # rejects per topic, and the valid/late counts and event-time range the watermark step needs.
            summary = count_judged(
                judged, {topic: stream for stream, topic in self.topics.items()}, clock.watermark
            )
            m.rows_in, m.quarantined, counts = summary.rows_in, summary.quarantined, summary.streams
        lap("validate")

        # The raw and quarantine tables do not feed the enrichment: they are written and *published* on a
        # background thread while the watermark, the state and the enriched rows are computed, so raw rows
        # become visible seconds before the step ends (smartcity.stream.overlap says why threads help).
        background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smartcity-raw")
        raw_done = None
        try:
            if not flush:  # a flush reads no messages: no raw or quarantine rows
                quarantine = None
                for v in validated.values():
                    quarantine = (
                        v.quarantined if quarantine is None else quarantine.unionByName(v.quarantined)
                    )
                assert quarantine is not None
                outputs = [
                    *[
                        (RAW_TABLE.format(stream=stream.value), v.valid, ("dt", "hour"))
                        for stream, v in validated.items()
                    ],
                    (QUARANTINE_TABLE, quarantine, ("dt",)),
                ]
                # Quarantine partitions by the step's one ingest date; a stream whose event times lie in
                # one hour has one raw partition: both are written by one task without a shuffle (which
                # only spreads many partition values over tasks; one task writes one file per value).
                one_partition = {QUARANTINE_TABLE} | {
                    RAW_TABLE.format(stream=stream.value)
                    for stream, c in counts.items()
                    if c.oldest is not None and c.newest is not None and _hour(c.oldest) == _hour(c.newest)
                }
                raw_done = background.submit(_stage_and_publish, commit, outputs, one_partition)

            frames = {s: v.valid for s, v in validated.items()}
            result = step(state, clock, frames, self.cfg, flush=flush, counts=counts)
            for stream in Stream:
                m.valid[stream.value] = result.counters[f"valid_{stream.value}"]
                m.late[stream.value] = result.counters[f"late_{stream.value}"]
            lap("watermark")
            # Segments the counts prove empty are neither written nor listed (a flush writes none). The
            # candidates' segments keep only the rows a later step can still use (the state's expiry,
            # applied when writing: a large batch's older fixes would be written only to be filtered out
            # by every later read); this step's look-ups take all of them from the judged cache.
            empty = _empty_segments(counts)
            written = self.store.write_segments(
                version,
                {
                    k: live(df, k, result.prune_before) if k in CANDIDATE_KINDS else df
                    for k, df in result.segments.items()
                    if k not in empty
                },
            )
            new_kinds = list(written)
            written.update({k: self.store.empty(k) for k in empty})
            lap("state")
            this_step = {**written, **{k: result.segments[k] for k in CANDIDATE_KINDS if k not in empty}}
            enriched = final_enriched(
                state, this_step, result.watermark_before, result.clock.watermark, self.cfg
            )
            commit.stage(ENRICHED_TABLE, enriched, ("dt", "hour"))
            lap("enrich")
            if raw_done is not None:
                m.raw_visible_s = round(raw_done.result() - lap.start, 3)
                lap("raw+quarantine")  # only the wait left after state and enrichment
        finally:
            background.shutdown(wait=True)  # never leave a write running behind a failed step

        m.vehicle_accepted = written["vehicle"].count()
        m.vehicle_late_distinct = written["late_ids"].count()
        enriched_schema = spark_schema(enriched_columns())
        m.enriched = (
            self.spark.read.schema(enriched_schema)
            .parquet(join_uri(commit.staging_uri, ENRICHED_TABLE))
            .count()
        )
        lap("counts")

        commit.publish()
        lap("publish")

        new_clock = result.clock
        segments = self._live_segments(previous, result.prune_before)
        for kind in new_kinds:
            newest = (
                datetime.fromisoformat("1970-01-01T00:00:00+00:00")
                if new_clock.max_event_time is None
                else new_clock.max_event_time
            )
            if kind == "late_ids":
                newest = (result.watermark_before or newest) + _seconds(self.cfg.dedup_horizon_s)
            segments.append(Segment(kind, version, newest.isoformat()))
        totals = dict(previous.totals) if previous else {}
        for key, value in {
            **{f"rows_in_{t}": n for t, n in m.rows_in.items()},
            **{f"quarantined_{t}": n for t, n in m.quarantined.items()},
            **{f"late_{s}": n for s, n in m.late.items()},
            "vehicle_accepted": m.vehicle_accepted,
            "vehicle_late_distinct": m.vehicle_late_distinct,
            "enriched": m.enriched,
        }.items():
            totals[key] = totals.get(key, 0) + value
        self.store.commit(StateVersion(version, batch_id, new_clock, segments, totals))

        m.totals = totals
        m.watermark = new_clock.watermark.isoformat() if new_clock.watermark else None
        m.max_event_time = new_clock.max_event_time.isoformat() if new_clock.max_event_time else None
        if result.batch_max_event_time is not None:
            m.event_time_lag_s = round((ingest_time - result.batch_max_event_time).total_seconds(), 3)
        return m

    @staticmethod
    def _live_segments(previous: StateVersion | None, cutoffs: dict[str, datetime]) -> list[Segment]:
        if previous is None:
            return []
        return [
            s
            for s in previous.segments
            if s.kind not in cutoffs or datetime.fromisoformat(s.newest) >= cutoffs[s.kind]
        ]

    # ------------------------------------------------------------ life cycle
    def recover(self) -> None:
        """Roll back steps that published files but never committed and that Spark will not replay.

        Spark replays an uncommitted micro-batch itself (and the step's ``begin`` cleans up), but a flush
        step exists only in this job, so an interrupted flush is undone here before anything else runs.
        """
        latest = self.store.latest()
        committed = latest.version if latest else -1
        records = join_uri(self.checkpoint, "sink", "records")
        for name in self.fs.list_names(records):
            if not name.endswith(".json") or not name[0].isdigit():
                continue
            version = int(name.split(".")[0])
            if version > committed and version % 2 == 1:
                StepCommit(self.fs, self.lake, self.checkpoint, version).rollback()

    def flush(self) -> BatchMetrics | None:
        """Close every open window (end of an --available-now drain): one step with no input."""
        latest = self.store.latest()
        if latest is None or latest.version % 2 == 1:
            return None
        # limit(0): the optimizer knows this relation is empty (a createDataFrame([]) is an opaque RDD to
        # it) and prunes every plan built on it, so the flush runs only the enrichment's jobs.
        empty = self.spark.createDataFrame([], KAFKA_SCHEMA).limit(0)
        return self._step(latest.batch_id, empty, flush=True)

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def run(
        self,
        *,
        available_now: bool = False,
        trigger_s: float | None = None,
        install_signals: bool = True,
        query_name: str = "smartcity_stream",
    ) -> RunResult:
        """Run until drained (``available_now``) or until SIGTERM/SIGINT; then stop between batches."""
        self.recover()
        reader = self.spark.readStream.format("kafka").options(**kafka_options(self.settings, self.cfg))
        writer = (
            reader.load()
            .writeStream.queryName(query_name)
            .option("checkpointLocation", join_uri(self.checkpoint, "query"))
            .foreachBatch(self.process_batch)
        )
        if available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=f"{trigger_s or self.cfg.trigger_interval_s} seconds")
        if install_signals and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        query = self._query = writer.start()
        by_signal = False
        try:
            while query.isActive:
                if self._stop.is_set():
                    by_signal = True
                    _stop_between_batches(query)
                    break
                query.awaitTermination(0.5)
        finally:
            if query.isActive:
                query.stop()
        error = query.exception()
        if error is not None:
            raise RuntimeError(f"streaming query failed: {error.desc}")
        flushed = False
        if available_now and not by_signal and self.cfg.flush_on_drain:
            flushed = self.flush() is not None
        return RunResult(self.batches, flushed, by_signal)


def _stage_and_publish(
    commit: StepCommit, outputs: list[tuple[str, DataFrame, tuple[str, ...]]], one_partition: set[str]
) -> float:
    """Write the tables and publish them at once; returns the monotonic time they became visible."""
    commit.stage_all(outputs, one_partition)
    commit.publish(tables=[table for table, _, _ in outputs])
    return time.monotonic()


def _hour(instant: datetime) -> datetime:
    """The UTC hour an instant falls in (the raw tables' ``dt``/``hour`` partition)."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _empty_segments(counts: Mapping[Stream, StreamCounts]) -> set[str]:
    """State kinds this step adds no rows to, by the batch's counts (a flush has no counts: all)."""
    ontime = {s: c.valid - c.late for s, c in counts.items()}
    late_vehicles = counts[Stream.VEHICLE].late if Stream.VEHICLE in counts else 0
    empty = {kind for kind in ("vehicle", "gps", "weather", "emergency") if ontime.get(Stream(kind), 0) == 0}
    if late_vehicles == 0:
        empty.add("late_ids")
    return empty


class _Laps:
    """Records the wall time since the previous lap under a phase name."""

    def __init__(self, into: dict[str, float], since: float | None = None) -> None:
        self.into = into
        self.start = self.last = time.monotonic() if since is None else since

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        self.into[phase] = round(now - self.last, 3)
        self.last = now


def _offsets_behind(query: Any | None) -> float | None:
    """Consumer lag: the Kafka source's ``maxOffsetsBehindLatest`` (the partition furthest behind).

    From the query's last finished progress, i.e. as of the previous trigger's planning (the current
    batch's progress is reported only after ``foreachBatch`` returns); None before the first one.
    """
    progress = getattr(query, "lastProgress", None) if query is not None else None
    for source in (progress or {}).get("sources", []):
        value = (source.get("metrics") or {}).get("maxOffsetsBehindLatest")
        if value is not None:
            return float(value)
    return None


def _stop_between_batches(query: Any, timeout_s: float = 120.0) -> None:
    """Let the running micro-batch finish (it commits), then stop: a clean stop leaves nothing to replay."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and query.isActive and query.status.get("isTriggerActive"):
        time.sleep(0.2)
    query.stop()


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)
