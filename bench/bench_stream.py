"""Streaming job benchmark: sustained throughput against two baselines, engine cost per step, latency.

Everything runs in one process against a private local stack (Kafka on free ports, a local[2] Spark
session), and every figure is compared with baselines measured in the same run: the machine is shared,
so absolute rates drift between runs while ratios hold.

1. Throughput over steady micro-batches. The simulator's city (backfill, ``--vehicles``, every fault at
   ``--fault-rate``: the real mix of the five streams, real event sizes, late, out-of-order, duplicate
   and malformed messages) is produced as consecutive slices of event time, ``--span`` / ``--batches``
   seconds each, and after each slice three queries drain it in turn with ``availableNow``, each from
   its own checkpoint, so each query's micro-batch is exactly that slice: the full job (validation,
   raw, quarantine, enrichment state, vehicle_enriched, the exactly-once publish; no flush at the end of
   a drain, so windows stay open from slice to slice as in a long-running job); the *validating
   baseline* (the same judging as the job -- ``validate.judge``, then ``stream_frame`` per stream -- and
   the raw tables (dt/hour) plus quarantine (dt) appended, with the job's write overlap, in
   ``foreachBatch``: no state, no enrichment, no publish protocol); the *copy baseline* (Kafka ->
   Parquet without parsing, context only). A *cold* volume of ``--batches`` slices warms the JVM, the
   Python workers and code generation; the *warm* volume, the next ``--batches`` slices of the same
   city, is drained by the same job objects and gives the figures. Rates are messages / seconds spent
   in the queries' micro-batches (the job's step durations, the baselines' ``foreachBatch`` time);
   rates over wall time, which add one query start per slice, are printed as context. (Why slices
   rather than one volume drained with ``maxOffsetsPerTrigger``: Spark splits such a batch over the
   partitions by backlog but gives every partition at least one message, so the sparse weather and
   emergency partitions run ahead in event time, and the job's max-policy watermark then turns much of
   the following batches late: not steady traffic.)
2. Engine cost per step, from the full job's metrics (``smartcity.stream.metrics``): classes compiled by
   Spark's code generation (each step's value, then the median and max of the steady steps -- the
   first warm step is left out when it differs from the rest, and the output says so), Spark jobs per
   step, and the median seconds per phase; for the warm steps and, as context, the cold ones.
3. Latency at the product's defaults: a new job on the same lake runs continuously with the default
   ``StreamSettings`` (trigger interval, watermark, batch size as shipped; nothing overridden) while
   the simulator sends the city in real time at about ``--rate`` events/s (event time = now, the same
   faults, late messages held 2 x (watermark delay + trigger) so that they are late by construction
   and still come out during the run). Vehicle messages are tracked for ``--seconds``; the city keeps
   talking until the watermark has closed the last tracked vehicle's GPS window, then stops (messages
   still held are not sent). A delivery report records when each vehicle message was acknowledged, a
   poller when each Parquet file became visible: p50/p95 of (visible - acknowledged) for raw/vehicle
   rows and for vehicle_enriched rows. Late %: the events the job counted late minus those the
   simulator sent late on purpose (its manifest counts them), over the valid events the job counted.

Targets: enriched rate >= 0.5 x the validating baseline's; 0 newly generated classes per steady step;
raw p95 <= 10 s; enriched p95 <= 30 s; late < 0.1 %.

Human-readable figures go to stdout; the last line is one JSON object with the headline figures. Spark's
and the job's logs go to stderr (large: redirect it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream_probe import FileLatency, TrackedSink, events_per_vehicle_second, fmt, pctl, round_or_none

from smartcity.config import Settings, Stream
from smartcity.local.stack import LocalStack, private_stack_settings
from smartcity.simulate.encode import epoch_ms
from smartcity.simulate.faults import FaultConfig, FaultInjector
from smartcity.simulate.runner import RunConfig, Simulation
from smartcity.simulate.sinks import KafkaSink, kafka_config
from smartcity.simulate.world import World, WorldParams
from smartcity.stream.hadoop_fs import HadoopFS
from smartcity.stream.metrics import read_metrics

if TYPE_CHECKING:  # pyspark and the job are imported once the stack is up
    from pyspark.sql import DataFrame, SparkSession

    from smartcity.config import StreamSettings
    from smartcity.stream.validate import Validated

BatchWriter = Callable[["DataFrame", int], None]
# Writes the validating baseline overlaps, as the job does (smartcity.stream.overlap's default).
WRITE_WORKERS = 3


# --------------------------------------------------------------------------------------- producers
class _VolumeFaults(FaultInjector):
    """The simulator's faults across the slices of one volume.

    ``Simulation.run`` sends every held message at the end of each run; between slices the late ones
    (held ``late_delay`` past their event time) stay held, as they would in one continuous run, and go
    out after the volume's last slice. Out-of-order and duplicate messages (held seconds) are released
    by the next slice when due.
    """

    release_held = False

    def release_all(self) -> int:
        return super().release_all() if self.release_held else 0


class City:
    """The simulator's city producing consecutive slices of event time into Kafka (backfill).

    One world, one fault injector and one producer for the whole run, so the traffic continues across
    slices and volumes (fresh ids, vehicles mid-route, held faults carried over).
    """

    def __init__(self, settings: Settings, vehicles: int, start: datetime, fault_rate: float) -> None:
        seed = 7
        self.sink = KafkaSink(kafka_config(settings), settings.topics.all())
        self.config = RunConfig(
            world=WorldParams(vehicles=vehicles, seed=seed),
            faults=FaultConfig.all_faults(fault_rate, seed=seed),
            mode="backfill",
            start_ms=epoch_ms(start),
        )
        self.world = World.create(self.config.world, self.config.start_ms)
        self.faults = _VolumeFaults(self.config.faults, self.sink.send)
        self.totals: dict[str, Any] = {"acknowledged": 0, "late": 0, "malformed_total": 0}

    def produce(self, seconds: int, end_of_volume: bool) -> dict[str, int]:
        """Produce the next ``seconds`` of the city; returns this slice's manifest totals (acknowledged,
        late, malformed_total)."""
        self.faults.release_held = end_of_volume
        manifest = Simulation(
            replace(self.config, duration_s=float(seconds)), self.sink, world=self.world, faults=self.faults
        ).run()
        if not manifest["complete"]:
            raise SystemExit(f"simulator run incomplete: {manifest['last_error']}")
        now = {k: int(manifest["totals"][k]) for k in self.totals}
        added = {k: now[k] - self.totals[k] for k in now}
        self.totals = now
        return added


# --------------------------------------------------------------------------------------- baselines
def judge_streams(
    kafka_df: DataFrame, settings: Settings, cfg: StreamSettings, ingest_time: datetime
) -> tuple[DataFrame, dict[Stream, Validated]]:
    """The job's judging of one micro-batch: every message's verdict in one pass, then each stream's frame.

    Mirrors ``StreamJob._judge`` (coalesce to one partition per core, ``judge`` over all topics, persisted,
    ``stream_frame`` per topic). The one place to adapt if ``judge``/``stream_frame`` change signature.
    Returns the persisted judged frame (unpersist it after use) and the validated frame per stream.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from smartcity.stream.validate import judge, stream_frame

    topics = settings.topics.all()
    parallelism = kafka_df.sparkSession.sparkContext.defaultParallelism
    if kafka_df.rdd.getNumPartitions() > parallelism:
        kafka_df = kafka_df.coalesce(parallelism)
    judged = judge(
        kafka_df,
        {topic: stream for stream, topic in topics.items()},
        ingest_time=ingest_time,
        max_future_s=cfg.max_future_s,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    validated = {
        stream: stream_frame(
            judged.where(F.col("topic") == topic),
            stream,
            cell_size_deg=cfg.cell_size_deg,
        )
        for stream, topic in topics.items()
    }
    return judged, validated


@dataclass
class Drain:
    """What one ``availableNow`` drain cost: wall seconds (query start to end) and each batch's seconds."""

    wall_s: float
    batch_s: list[float]


class Baseline:
    """A baseline query over the job's topics: its own checkpoint, ``write`` as its ``foreachBatch``."""

    def __init__(
        self, spark: SparkSession, settings: Settings, cfg: StreamSettings, out: str, write: BatchWriter
    ) -> None:
        from smartcity.stream.source import kafka_options

        self.spark, self.out, self.write = spark, out, write
        self.options = kafka_options(settings, cfg)  # the job's source options (consumer tuning)

    def drain(self) -> Drain:
        """Read everything new since the previous drain; time each batch inside ``foreachBatch``."""
        batch_s: list[float] = []

        def timed(df: DataFrame, batch_id: int) -> None:
            started = time.monotonic()
            self.write(df, batch_id)
            batch_s.append(time.monotonic() - started)

        started = time.monotonic()
        q = (
            self.spark.readStream.format("kafka")
            .options(**self.options)
            .load()
            .writeStream.foreachBatch(timed)
            .option("checkpointLocation", self.out + "/_ckpt")
            .trigger(availableNow=True)
            .start()
        )
        q.awaitTermination()
        return Drain(time.monotonic() - started, batch_s)


def validating_baseline(spark: SparkSession, settings: Settings, cfg: StreamSettings, out: str) -> Baseline:
    """Kafka -> the job's judging -> raw (one table per stream, dt/hour) + quarantine (dt), nothing else.

    What the job would cost without enrichment, state and the exactly-once protocol: the writes are
    plain appends, overlapped from ``WRITE_WORKERS`` driver threads as the job overlaps its own.
    """

    def write(kafka_df: DataFrame, _batch_id: int) -> None:
        judged, validated = judge_streams(kafka_df, settings, cfg, datetime.now(UTC))
        try:
            quarantine = None
            for v in validated.values():
                quarantine = v.quarantined if quarantine is None else quarantine.unionByName(v.quarantined)
            outputs = [(f"raw/{s.value}", v.valid, ("dt", "hour")) for s, v in validated.items()]
            outputs.append(("quarantine", quarantine, ("dt",)))

            def one(table: str, df: DataFrame, by: tuple[str, ...]) -> None:
                df.write.mode("append").partitionBy(*by).parquet(f"{out}/{table}")

            with ThreadPoolExecutor(max_workers=WRITE_WORKERS) as pool:
                futures = [pool.submit(one, *o) for o in outputs]
            for f in futures:
                f.result()
        finally:
            judged.unpersist()

    return Baseline(spark, settings, cfg, out, write)


def copy_baseline(spark: SparkSession, settings: Settings, cfg: StreamSettings, out: str) -> Baseline:
    """Kafka -> Parquet with no parsing: the cost floor of reading and writing the same bytes."""
    from pyspark.sql import functions as F

    def write(df: DataFrame, _batch_id: int) -> None:
        df.select(
            "topic",
            "partition",
            "offset",
            F.col("value").cast("string").alias("value"),
            F.date_format("timestamp", "yyyy-MM-dd").alias("dt"),
        ).write.mode("append").partitionBy("topic", "dt").parquet(out + "/data")

    return Baseline(spark, settings, cfg, out, write)


# ------------------------------------------------------------------------------------------ figures
def print_steps(label: str, steps: list[dict[str, Any]]) -> None:
    """One line per step: size, time, engine cost and the phase split."""
    for m in steps:
        kind = "flush" if m["flush"] else f"batch {m['batch_id']}"
        print(
            f"  [{label}] {kind}: {sum(m['rows_in'].values()):,} msgs, {m['duration_s']:.1f} s, "
            f"{m['enriched']:,} enriched, {sum(m['late'].values()):,} late, "
            f"classes {m.get('generated_classes', '-')}, jobs {m.get('spark_jobs', '-')}, raw visible "
            f"{fmt(m.get('raw_visible_s'))}; "
            + ", ".join(f"{k} {v:.2f}" for k, v in m.get("phases", {}).items())
        )


def engine_summary(label: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Median/max generated classes of the steady batch steps, median jobs and seconds per phase.

    Batch steps only (a drain flush is a different kind of step; it is printed, not summarised). The
    first step is left out of the class figures when its value differs from the median of the others.
    """
    batches = [m for m in steps if not m["flush"]]
    if not batches:
        print(f"[{label}] no batch steps")
        return {"classes_median": None, "classes_max": None, "jobs_median": None, "phases": {}}
    classes = [int(m.get("generated_classes", 0)) for m in batches]
    steady, note = classes, "all batch steps"
    if len(classes) > 1 and classes[0] != statistics.median(classes[1:]):
        steady = classes[1:]
        note = (
            f"first step left out: it compiled {classes[0]} (the rest's median {statistics.median(steady):g})"
        )
    jobs = [int(m.get("spark_jobs", 0)) for m in batches]
    phase_names: list[str] = []
    for m in batches:
        phase_names += [k for k in m.get("phases", {}) if k not in phase_names]
    phases = {
        k: round(statistics.median(m["phases"][k] for m in batches if k in m.get("phases", {})), 3)
        for k in phase_names
    }
    durations = [m["duration_s"] for m in batches]
    print(
        f"[{label}] generated classes per step: {classes}; steady median "
        f"{statistics.median(steady):g}, max {max(steady)} ({note})"
    )
    print(
        f"[{label}] Spark jobs per step: median {statistics.median(jobs):g} (min {min(jobs)}, max "
        f"{max(jobs)}); step seconds median {statistics.median(durations):.2f}"
    )
    print(f"[{label}] median seconds per phase: " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
    return {
        "classes_median": statistics.median(steady),
        "classes_max": max(steady),
        "jobs_median": statistics.median(jobs),
        "phases": phases,
    }


# ------------------------------------------------------------------------------------------ parts
def measure_throughput(
    spark: SparkSession, settings: Settings, home: Path, a: argparse.Namespace
) -> dict[str, Any]:
    """Parts 1 and 2: a cold and a warm volume, slice by slice, drained by the full job and both baselines.

    Each slice of event time is produced, then drained by each of the three queries in turn, so every
    query's batch is exactly that slice. (Filling the topics with a whole volume and draining it with
    ``maxOffsetsPerTrigger`` splits each batch over the partitions by backlog, with at least one message
    per partition: the sparse weather and emergency partitions run ahead in event time, and the job's
    max-policy watermark then makes much of the next batches late -- not steady traffic.)
    """
    from smartcity.stream.job import StreamJob

    slice_s = max(1, round(a.span / a.batches))
    # Both volumes lie in the past (the job refuses event times > 5 min ahead), the warm one continuing
    # the cold one, ending a minute before the run started.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2 * slice_s * a.batches + 60)
    city = City(settings, a.vehicles, start, a.fault_rate)
    # The drain does not flush: open windows carry over from volume to volume as in a running job.
    cfg = settings.stream.with_overrides(flush_on_drain=False)
    full = StreamJob(spark, settings, cfg)
    baselines = {
        "validating": validating_baseline(spark, settings, cfg, (home / "baseline-validating").as_uri()),
        "copy": copy_baseline(spark, settings, cfg, (home / "baseline-copy").as_uri()),
    }
    lake_fs = HadoopFS(spark)
    out: dict[str, Any] = {}
    for label in ("cold", "warm"):
        sizes: list[int] = []
        late = malformed = 0
        wall = dict.fromkeys(("enriched", *baselines), 0.0)
        batch_s: dict[str, list[float]] = {name: [] for name in baselines}
        steps_before = len(read_metrics(lake_fs, settings.lake_uri))
        for k in range(a.batches):
            added = city.produce(slice_s, end_of_volume=k == a.batches - 1)
            sizes.append(added["acknowledged"])
            late += added["late"]
            malformed += added["malformed_total"]
            started = time.monotonic()
            full.run(available_now=True, install_signals=False)
            wall["enriched"] += time.monotonic() - started
            for name, baseline in baselines.items():
                drained = baseline.drain()
                wall[name] += drained.wall_s
                batch_s[name] += drained.batch_s
        steps = read_metrics(lake_fs, settings.lake_uri)[steps_before:]
        events = sum(sizes)
        busy = {
            "enriched": sum(m["duration_s"] for m in steps),
            **{name: sum(seconds) for name, seconds in batch_s.items()},
        }
        rates = {name: events / seconds for name, seconds in busy.items()}
        print(
            f"[{label}] volume: {events:,} messages in {a.batches} slices of {slice_s} s "
            f"({min(sizes):,}-{max(sizes):,} messages; {a.vehicles:,} vehicles, faults {a.fault_rate:g} "
            f"each: {late:,} late, released with the last slice, {malformed:,} malformed)"
        )
        counts = {"enriched": len(steps), **{name: len(seconds) for name, seconds in batch_s.items()}}
        if any(n != a.batches for n in counts.values()):
            print(f"[{label}] WARNING: batches per query {counts}, expected {a.batches} each")
        for name, title in (
            ("enriched", "full job (enriched)"),
            ("validating", "validating baseline"),
            ("copy", "copy-only baseline"),
        ):
            print(
                f"[{label}] {title}: {rates[name]:,.0f} events/s over its batches ({busy[name]:.1f} s); "
                f"{events / wall[name]:,.0f} events/s with a query start per slice ({wall[name]:.1f} s)"
            )
        print(
            f"[{label}] ratio enriched/validating {rates['enriched'] / rates['validating']:.2f}, "
            f"enriched/copy {rates['enriched'] / rates['copy']:.2f}"
        )
        print_steps(label, steps)
        summary = engine_summary(label, steps)
        if label == "warm":
            out = {"events": events, "per_batch": round(events / a.batches), "rates": rates, **summary}
    # Close the warm volume's open windows before the latency run (untimed), so that run's first step
    # does not finalise them.
    flush = full.flush()
    if flush is not None:
        print_steps("warm", [json.loads(flush.to_json())])
    return out


def measure_latency(spark: SparkSession, settings: Settings, a: argparse.Namespace) -> dict[str, Any]:
    """Part 3: the continuous job at the default settings under the simulator's real-time city."""
    from smartcity.stream.job import StreamJob

    cfg = settings.stream  # the product's defaults: trigger, watermark, batch size
    lake_fs = HadoopFS(spark)
    lake = Path(settings.lake_uri.removeprefix("file://"))

    vehicles = max(1, round(a.rate / events_per_vehicle_second(settings)))
    # After the tracked span the city keeps talking until the watermark (newest event - delay) has passed
    # the last tracked vehicle's GPS window: its enriched row is then due in the next step.
    settle_s = cfg.watermark_delay_s + cfg.gps_window_s + 5
    files = FileLatency(lake)
    steps_before = len(read_metrics(lake_fs, settings.lake_uri))
    job = StreamJob(spark, settings, cfg)
    errors: list[BaseException] = []

    def run_job() -> None:
        try:
            job.run(install_signals=False)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    runner = threading.Thread(target=run_job, name="bench-job")
    runner.start()
    files.start()
    time.sleep(5)
    sink = TrackedSink(settings)
    # The simulator's faults, with late messages held long enough to be late by construction (the
    # watermark trails the newest event by the delay, and moves once per trigger) yet short enough to
    # come out during the run. At the end the simulation is stopped, not drained: messages still held
    # are not sent, so every late message the manifest counts arrived past its window.
    late_delay_s = 2 * (cfg.watermark_delay_s + cfg.trigger_interval_s)
    faults = replace(FaultConfig.all_faults(a.fault_rate, seed=9), late_delay_s=late_delay_s)
    stop_city = threading.Event()
    timers = [
        threading.Timer(a.seconds, lambda: setattr(sink, "tracking", False)),
        threading.Timer(a.seconds + settle_s, stop_city.set),
    ]
    for timer in timers:
        timer.start()
    now_ms = epoch_ms(datetime.now(UTC))
    sent_at = time.monotonic()
    manifest = Simulation(
        RunConfig(
            world=WorldParams(vehicles=vehicles, seed=9),
            faults=faults,
            mode="realtime",
            start_ms=now_ms - now_ms % 1000,
        ),
        sink,
    ).run(stop_city)
    sent_s = time.monotonic() - sent_at
    for timer in timers:
        timer.cancel()
    sent = int(manifest["totals"]["acknowledged"])
    # Wait until the job has read every message (its steps' rows_in), then stop it between batches.
    deadline = time.monotonic() + 3 * cfg.trigger_interval_s + 120
    read = 0
    while time.monotonic() < deadline and not errors:
        steps = read_metrics(lake_fs, settings.lake_uri)[steps_before:]
        read = sum(sum(m["rows_in"].values()) for m in steps)
        if read >= sent:
            break
        time.sleep(1)
    job.request_stop()
    runner.join(300)
    time.sleep(0.5)
    files.stop()
    if errors:
        raise SystemExit(f"latency job failed: {errors[0]}")
    steps = read_metrics(lake_fs, settings.lake_uri)[steps_before:]

    raw_lat, enr_lat = files.latencies(sink)

    job_late = sum(sum(m["late"].values()) for m in steps)
    job_valid = sum(sum(m["valid"].values()) for m in steps)
    sent_late = int(manifest["totals"]["late"])
    late_pct = 100.0 * (job_late - sent_late) / job_valid if job_valid else None
    tracked_vehicles = len(sink.acked_ids)
    print(
        f"[latency] job at defaults: trigger {cfg.trigger_interval_s:g} s, watermark delay "
        f"{cfg.watermark_delay_s:g} s, GPS window {cfg.gps_window_s:g} s; {len(steps)} steps, "
        f"{read:,} of {sent:,} messages read"
    )
    print(
        f"[latency] producer: {vehicles:,} vehicles in real time, {sent / sent_s:,.0f} events/s for "
        f"{sent_s:.0f} s (tracked: the first {a.seconds} s, {tracked_vehicles:,} vehicle ids); faults "
        f"{a.fault_rate:g} each, late ones held {late_delay_s:g} s"
    )
    print_steps("latency", steps)
    print(
        f"[latency] raw/vehicle: p50 {fmt(pctl(raw_lat, 50))}, p95 {fmt(pctl(raw_lat, 95))} "
        f"({len(raw_lat):,} rows; target p95 <= 10 s)"
    )
    print(
        f"[latency] vehicle_enriched: p50 {fmt(pctl(enr_lat, 50))}, p95 {fmt(pctl(enr_lat, 95))} "
        f"({len(enr_lat):,} rows; target p95 <= 30 s)"
    )
    print(
        f"[latency] late: the job counted {job_late:,} late of {job_valid:,} valid events; the simulator "
        f"sent {sent_late:,} late on purpose: (job - sent) / valid = {fmt(late_pct, ' %', 3)} "
        f"(target < 0.1 %)"
    )
    if job_late < sent_late:
        print("[latency] WARNING: fewer late than sent late: some deliberately late messages were not late")
    return {
        "raw_p50_s": round_or_none(pctl(raw_lat, 50), 2),
        "raw_p95_s": round_or_none(pctl(raw_lat, 95), 2),
        "enriched_p50_s": round_or_none(pctl(enr_lat, 50), 2),
        "enriched_p95_s": round_or_none(pctl(enr_lat, 95), 2),
        "late_pct": round_or_none(late_pct, 4),
        "late_job": job_late,
        "late_sent": sent_late,
        "valid_events": job_valid,
        "latency_rate": round(sent / sent_s),
        "latency_vehicles": vehicles,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=1_200, help="fleet of the throughput volumes")
    ap.add_argument(
        "--span", type=float, default=60.0, help="simulated seconds per throughput volume (cold, warm)"
    )
    ap.add_argument("--batches", type=int, default=6, help="equal micro-batches (slices) per volume (>= 5)")
    ap.add_argument("--rate", type=int, default=2_000, help="events/s the city sends in the latency run")
    ap.add_argument("--seconds", type=int, default=90, help="tracked seconds of the latency run")
    ap.add_argument("--fault-rate", type=float, default=0.005, help="probability of each simulator fault")
    a = ap.parse_args(argv)
    if not 1 <= a.vehicles <= 10_000:
        ap.error("--vehicles must be between 1 and 10000")
    if a.batches < 5:
        ap.error("--batches must be >= 5 (steady steps need a few warm ones)")
    if not a.span >= a.batches:
        ap.error("--span must be at least --batches seconds (a slice is >= 1 simulated second)")
    if a.rate <= 0 or a.seconds <= 0:
        ap.error("--rate and --seconds must be > 0")
    if not 0 <= a.fault_rate <= 0.25:
        ap.error("--fault-rate must be in [0, 0.25]")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="smartcity-bench-stream-"))
    settings = private_stack_settings(home)
    stack = LocalStack(settings)
    stack.up()
    try:
        from smartcity.spark import local_session

        spark = local_session(
            "smartcity-bench-stream",
            shuffle_partitions=settings.stream.shuffle_partitions,
        )
        tp = measure_throughput(spark, settings, home, a)
        rates = tp["rates"]
        enriched, validating, copy = rates["enriched"], rates["validating"], rates["copy"]
        print(
            f"sustained (warm) throughput: {enriched:,.0f} events/s enriched vs {validating:,.0f} "
            f"validating baseline (ratio {enriched / validating:.2f}, target >= 0.5) and {copy:,.0f} "
            f"copy-only (ratio {enriched / copy:.2f}); {a.batches} batches of ~{tp['per_batch']:,} "
            "messages"
        )
        lat = measure_latency(spark, settings, a)
        spark.stop()
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    result = {
        "rate_enriched": round(rates["enriched"]),
        "rate_validating": round(rates["validating"]),
        "rate_copy": round(rates["copy"]),
        "ratio_validating": round(rates["enriched"] / rates["validating"], 3),
        "ratio_copy": round(rates["enriched"] / rates["copy"], 3),
        "classes_per_warm_step": tp["classes_median"],
        "classes_max_warm_step": tp["classes_max"],
        "jobs_per_step": tp["jobs_median"],
        **lat,
        "batches": a.batches,
        "events_per_batch": tp["per_batch"],
        "events_warm": tp["events"],
        "phases": tp["phases"],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
