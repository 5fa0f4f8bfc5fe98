"""The streaming job: Kafka (five topics) → raw, quarantine, vehicle_enriched and anomalies, exactly once.

One Structured Streaming query with ``foreachBatch``; each micro-batch is a *step*, planned by the pure
``smartcity.stream.step.plan_step``. This driver loads the state, judges the batch, writes what the plan
says, publishes (``smartcity.stream.sink``), commits the state and reports. Runs the same on a laptop
(``smartcity stream``) and on Glue (``glue_streaming/job.py``): only the session, the Kafka auth options
and the metrics client differ, and they are passed in.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from smartcity.anomaly.rules import ANOMALY_KINDS
from smartcity.checkpoint_owner import check_owner
from smartcity.config import Settings, Stream, StreamSettings
from smartcity.contract import raw_columns, spark_schema
from smartcity.lake_layout import ANOMALIES_TABLE, ENRICHED_TABLE
from smartcity.stream import jvm_handles
from smartcity.stream.collect import collect_together
from smartcity.stream.engine import engine_counts
from smartcity.stream.enrichment_state import EnrichmentStateStore, WrittenSegment
from smartcity.stream.hadoop_fs import HadoopFS, join_uri
from smartcity.stream.live import latest_frame, publish_live
from smartcity.stream.metrics import BatchMetrics, emit
from smartcity.stream.sink import StepCommit, TableOutput
from smartcity.stream.source import kafka_options
from smartcity.stream.state_version import Segment, StateVersion, WatermarkClock
from smartcity.stream.step import (
    JudgedCounts,
    StepPlan,
    batch_tables,
    judged_counts,
    plan_step,
    state_schema,
)
from smartcity.stream.stepid import StepId
from smartcity.stream.validate import judge, stream_frame

log = logging.getLogger("smartcity.stream")


@dataclass
class RunResult:
    batches: int
    flushed: bool
    stopped_by_signal: bool


# Adaptive execution re-plans a query while it runs, from what its finished stages hold: it drops a branch
# found empty and numbers the codegen stages in the order their query stages are created, which depends
# on which finish first. A step's plans would then change with its data and timing, and each new variant
# compiles its generated code again (a stage's number is part of its code); each shuffle's map stage is
# also a Spark job of its own. So a step runs with it off, in both worlds (docs/decisions/0015).
STEP_SQL_CONF = {"spark.sql.adaptive.enabled": "false"}


@contextmanager
def step_sql_conf(spark: SparkSession) -> Iterator[None]:
    """The session settings a step runs with (``STEP_SQL_CONF``), restored when it ends: the job may share
    its session (tests, notebooks) with code that expects the session's own."""
    before = {key: spark.conf.get(key, None) for key in STEP_SQL_CONF}
    for key, value in STEP_SQL_CONF.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


class StreamJob:
    """Runs steps: ``run`` drives them from a Kafka stream, ``flush`` closes the open windows."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        cfg: StreamSettings,
        *,
        cloudwatch: Any | None = None,
        job_name: str = "smartcity-streaming",
    ) -> None:
        jvm_handles.install()  # a step builds thousands of column expressions on the driver
        self.spark = spark
        self.settings = settings
        self.cfg = cfg
        self.fs = HadoopFS(spark)
        self.lake = settings.lake_uri
        self.checkpoint = settings.checkpoint_uri
        self.topics = settings.topics.all()
        self.stream_of = {topic: stream for stream, topic in self.topics.items()}
        self.state_schema = state_schema({s: spark_schema(raw_columns(s)) for s in Stream})
        self.store = EnrichmentStateStore(spark, self.fs, self.checkpoint, self.state_schema)
        self.cloudwatch = cloudwatch
        self.job_name = job_name
        self._stop = threading.Event()
        self.batches = 0
        self._query: Any | None = None  # the running StreamingQuery (for the Kafka source's lag metric)

    # ----------------------------------------------------------------- one step
    def process_batch(self, kafka_df: DataFrame, batch_id: int) -> None:
        """``foreachBatch`` callback: one micro-batch is one step."""
        self.run_step(StepId(batch_id), kafka_df)
        self.batches += 1

    def run_step(self, step: StepId, kafka_df: DataFrame | None) -> BatchMetrics:
        """Judge, plan, write, publish and commit one step (``kafka_df`` None: a flush)."""
        with step_sql_conf(self.spark):
            return self._run_step(step, kafka_df)

    def _run_step(self, step: StepId, kafka_df: DataFrame | None) -> BatchMetrics:
        laps = _Laps()
        engine_before = engine_counts(self.spark)
        requests_before = self.fs.store_requests(self.lake, self.checkpoint)
        commit = StepCommit(self.fs, self.lake, self.checkpoint, step)
        ingest_time = commit.begin()
        previous = self.store.latest(before=step)
        clock = previous.clock if previous else WatermarkClock()
        state = self.store.frames(previous)
        laps("load state")
        judged = None
        try:
            counts, raw_visible = JudgedCounts(), None
            batch = None
            if kafka_df is not None:
                judged = self._judge(kafka_df, ingest_time, clock)
                batch = {
                    stream: stream_frame(
                        judged.where(F.col("topic") == topic), stream, cell_size_deg=self.cfg.cell_size_deg
                    )
                    for stream, topic in self.topics.items()
                }
                # Raw and quarantine first, published at once: they need nothing else, and their writes
                # observe the counts the plan needs (no separate pass over the batch).
                tables = batch_tables(batch, self.topics)
                counts = judged_counts(commit.stage_all(tables), self.topics)
                commit.publish(tables=[t.table for t in tables])
                raw_visible = round(laps.total(), 3)
            laps("raw+quarantine")
            plan = plan_step(
                state, clock, batch, counts, self.cfg, ingest_time=ingest_time, schema=self.state_schema
            )
            laps("plan")
            written = self.store.write(step, plan.segments)
            laps("state")
            # The few rows the driver needs, in one Spark job: the look-ups' weather and emergency
            # reports and the live snapshot's latest vehicles and cameras.
            collected = collect_together(
                {**plan.side_frames(), "latest": latest_frame(self.fs, commit, written)},
                f"{step.key} collect weather+incidents+latest",
            )
            laps("collect")
            publish_live(self.fs, self.lake, commit, plan, collected)
            laps("live snapshot")
            enriched_rows = plan.enriched(
                written.frames["vehicle"], collected["weather"], collected["emergency"]
            )
            flags = plan.anomalies(written.frames["vehicle"])
            laps("plan enriched")
            staged = commit.stage_all(
                [
                    TableOutput(ENRICHED_TABLE, enriched_rows, ("dt", "hour")),
                    TableOutput(ANOMALIES_TABLE, flags, ("dt", "hour"), measures=_per_rule()),
                ]
            )
            enriched = int(staged[ENRICHED_TABLE]["rows"])
            anomalies = {rule: int(staged[ANOMALIES_TABLE][rule] or 0) for rule in ANOMALY_KINDS}
            laps("enrich+anomalies")
        finally:
            if judged is not None:
                judged.unpersist()
        commit.publish()
        laps("publish")
        metrics = self._commit(step, previous, plan, written, enriched, anomalies, ingest_time)
        self.store.collect_garbage()
        laps("commit")
        metrics.raw_visible_s = raw_visible
        metrics.phases = laps.phases
        metrics.duration_s = round(laps.total(), 3)
        spent = engine_counts(self.spark) - engine_before
        metrics.spark_jobs, metrics.generated_classes = spent.jobs, spent.generated_classes
        if requests_before is not None:
            metrics.s3_requests = (self.fs.store_requests(self.lake, self.checkpoint) or 0) - requests_before
        emit(
            metrics,
            fs=self.fs,
            lake_uri=self.lake,
            step=step,
            cloudwatch=self.cloudwatch,
            namespace=self.cfg.cloudwatch_namespace,
            job_name=self.job_name,
        )
        return metrics

    def _judge(self, kafka_df: DataFrame, ingest_time: datetime, clock: WatermarkClock) -> DataFrame:
        """Every message's verdict, kept: each table, count and state row of the step reads it."""
        # One partition per core: 5 topics x N partitions of small tasks cost more than they parallelise.
        parallelism = self.spark.sparkContext.defaultParallelism
        if kafka_df.rdd.getNumPartitions() > parallelism:
            kafka_df = kafka_df.coalesce(parallelism)
        return judge(
            kafka_df,
            self.stream_of,
            ingest_time=ingest_time,
            max_future_s=self.cfg.max_future_s,
            watermark=clock.watermark,
        ).persist(StorageLevel.MEMORY_AND_DISK)

    def _commit(
        self,
        step: StepId,
        previous: StateVersion | None,
        plan: StepPlan,
        written: WrittenSegment,
        enriched: int,
        anomalies: dict[str, int],
        ingest_time: datetime,
    ) -> BatchMetrics:
        """Commit the state version (the step's last write) and return the step's metrics."""
        counts = plan.counts
        m = BatchMetrics(batch_id=step.batch_id, flush=step.flush, ingest_time=ingest_time.isoformat())
        m.kafka_offsets_behind = _offsets_behind(self._query)
        m.rows_in, m.quarantined = dict(counts.rows_in), dict(counts.quarantined)
        for stream in Stream:
            c = counts.streams.get(stream)
            m.valid[stream.value] = c.valid if c else 0
            m.late[stream.value] = c.late if c else 0
        m.vehicle_accepted = written.rows.get("vehicle", 0)
        m.vehicle_late_distinct = written.rows.get("late_ids", 0)
        m.enriched = enriched
        m.anomalies = anomalies

        segments = [
            s
            for s in (previous.segments if previous else [])
            if s.kind not in plan.prune_before
            or datetime.fromisoformat(s.newest) >= plan.prune_before[s.kind]
        ]
        segments += [
            Segment(kind, step.key, written.newest[kind].isoformat())
            for kind, rows in written.rows.items()
            if rows > 0
        ]
        totals = dict(previous.totals) if previous else {}
        for key, value in {
            **{f"rows_in_{t}": n for t, n in m.rows_in.items()},
            **{f"quarantined_{t}": n for t, n in m.quarantined.items()},
            **{f"late_{s}": n for s, n in m.late.items()},
            "vehicle_accepted": m.vehicle_accepted,
            "vehicle_late_distinct": m.vehicle_late_distinct,
            "enriched": m.enriched,
            **{f"anomalies_{rule}": n for rule, n in anomalies.items()},
        }.items():
            totals[key] = totals.get(key, 0) + value
        self.store.commit(StateVersion(step, plan.clock, segments, totals))

        m.totals = totals
        m.watermark = plan.clock.watermark.isoformat() if plan.clock.watermark else None
        m.max_event_time = plan.clock.max_event_time.isoformat() if plan.clock.max_event_time else None
        newest = [c.newest for c in counts.streams.values() if c.newest is not None]
        if newest:
            m.event_time_lag_s = round((ingest_time - max(newest)).total_seconds(), 3)
        return m

    # ------------------------------------------------------------ life cycle
    def recover(self) -> None:
        """Roll back flush steps that published files but never committed.

        Spark replays an uncommitted micro-batch itself (and the step's ``begin`` cleans up), but a flush
        exists only in this job, so an interrupted flush is undone here before anything else runs.
        """
        latest = self.store.latest()
        records = join_uri(self.checkpoint, "sink", "records")
        for name in self.fs.list_names(records):
            if not name.endswith(".json") or not name[0].isdigit():
                continue
            step = StepId.from_key(name.removesuffix(".json"))
            if step.flush and (latest is None or step > latest.step):
                StepCommit(self.fs, self.lake, self.checkpoint, step).rollback()

    def flush(self) -> BatchMetrics | None:
        """Close every open window (end of an --available-now drain): one step with no input."""
        latest = self.store.latest()
        if latest is None or latest.step.flush:
            return None
        return self.run_step(StepId(latest.step.batch_id, flush=True), None)

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def abort(self) -> None:
        """Stop now, even inside a micro-batch (its broker is gone): the batch is not committed, so the
        next start replays it, and no drain flush runs."""
        self._stop.set()
        if self._query is not None and self._query.isActive:
            self._query.stop()

    def run(
        self,
        *,
        available_now: bool = False,
        trigger_s: float | None = None,
        install_signals: bool = True,
        query_name: str = "smartcity_stream",
    ) -> RunResult:
        """Run until drained (``available_now``) or until SIGTERM/SIGINT; then stop between batches."""
        check_owner(self.fs, self.checkpoint, lake_uri=self.lake, topics=self.topics.values())
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
        if available_now and not self._stop.is_set() and self.cfg.flush_on_drain:
            flushed = self.flush() is not None
        return RunResult(self.batches, flushed, by_signal)


def _per_rule() -> tuple[Column, ...]:
    """What the anomalies table's write counts on the way: its rows per rule (the step's metrics)."""
    return tuple(F.sum((F.col("rule") == rule).cast("long")).alias(rule) for rule in ANOMALY_KINDS)


class _Laps:
    """Wall seconds per phase of a step, each lap measured from the previous one."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.start = self.last = time.monotonic()

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = round(now - self.last, 3)
        self.last = now

    def total(self) -> float:
        return time.monotonic() - self.start


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
