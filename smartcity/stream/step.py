"""One step of the job as a pure function: ``plan_step`` turns the state, the clock and a micro-batch's
judged messages into lazy frames (the tables to write, the new state rows, the enriched rows) and the
next clock. The driver (``smartcity.stream.job``) only loads, writes, commits and reports.

The job keeps its own event-time state instead of Spark's stream-stream joins (docs/streaming.md says
why). The rules, with W0 the watermark before the step and W1 after it:

* an event is *late* when ``event_time < W0``: it stays in raw, is counted, and enrichment ignores it;
* a vehicle event whose id was already accepted or counted late within the de-dup horizon is a duplicate;
* ``W1 = max(W0, M - watermark_delay)``, M the newest event time seen on *any* stream, each step's newest
  capped at its ingest time + ``max_clock_lead_s`` (a producer whose clock runs ahead does not make
  everyone else late; its events still count);
* a vehicle event at t is final, and written once to vehicle_enriched, in the step where the watermark
  first passes ``t + gps_window`` strictly: every GPS, weather or emergency event that could still change
  its row would then be late (a fix exactly at ``t + gps_window`` is not late until W passes it);
* a flush (end of an --available-now drain) raises W1 past ``M + gps_window`` so every open vehicle is final.

Every per-step instant (W0, W1, the expiry and look-up bounds) enters the plans as a column of a one-row
frame (:func:`bounds_frame`), never as a literal: Spark compiles literals into its generated code, so a
literal that changes every step would make every step compile new classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartcity.config import Stream, StreamSettings
from smartcity.contract import ENRICHED_WEATHER_FIELDS
from smartcity.lake_layout import QUARANTINE_TABLE, raw_table
from smartcity.stream.anomalies import VEHICLE_REACH_S, anomalies
from smartcity.stream.bounds import where_bounded, with_bounds
from smartcity.stream.derived_columns import typed_null
from smartcity.stream.enrich import enrich, within
from smartcity.stream.sink import TableOutput
from smartcity.stream.state_version import WatermarkClock
from smartcity.stream.validate import Validated, epoch_micros

STATE_KINDS = ("vehicle", "gps", "weather", "emergency", "late_ids")
# The kinds the look-ups search (the others are the vehicle events themselves and the de-dup ids).
CANDIDATE_KINDS = ("gps", "weather", "emergency")
STATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "vehicle": (
        "id",
        "device_id",
        "event_time",
        "latitude",
        "longitude",
        "cell_id",
        "speed",
        "direction",
        "make",
        "model",
        "year",
        "fuel_type",
    ),
    "gps": ("id", "device_id", "event_time", "speed", "direction", "vehicle_type"),
    "weather": (
        "id",
        "device_id",
        "event_time",
        "cell_id",
        "latitude",
        "longitude",
        *ENRICHED_WEATHER_FIELDS,
    ),
    "emergency": ("id", "incident_id", "type", "event_time", "latitude", "longitude", "status"),
    "late_ids": ("id", "event_time", "keep_until"),
}
# The column each kind expires on (late ids are kept by their own deadline, not their event time).
EXPIRY_COLUMN = {kind: "keep_until" if kind == "late_ids" else "event_time" for kind in STATE_KINDS}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Stands for "no watermark yet" in the bounds frame (the earliest instant Spark's timestamps hold).
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
_STREAM_OF_KIND = {
    "vehicle": Stream.VEHICLE,
    "gps": Stream.GPS,
    "weather": Stream.WEATHER,
    "emergency": Stream.EMERGENCY,
}


@dataclass(frozen=True)
class StreamCounts:
    """One stream's valid rows in a micro-batch: how many, how many late, and their event-time range."""

    valid: int = 0
    late: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None


@dataclass(frozen=True)
class JudgedCounts:
    """A micro-batch's counts from its judged messages: per topic, and per stream for the valid ones."""

    rows_in: dict[str, int] = field(default_factory=dict)  # messages per topic
    quarantined: dict[str, int] = field(default_factory=dict)  # rejects per topic (absent: none)
    streams: dict[Stream, StreamCounts] = field(default_factory=dict)


def as_utc(value: datetime) -> datetime:
    """PySpark collects timestamps as naive *local* datetimes; make them aware UTC instants."""
    return value.astimezone(UTC)


def batch_tables(batch: Mapping[Stream, Validated], topics: Mapping[Stream, str]) -> tuple[TableOutput, ...]:
    """The raw table of every stream and the quarantine, each observing while it is written the counts
    the step needs (:func:`judged_counts`): the one pass over the judged messages that a step makes."""
    raw_measures = (
        F.sum(F.col("late").cast("long")).alias("late"),
        F.min(F.unix_micros("event_time")).alias("oldest_us"),
        F.max(F.unix_micros("event_time")).alias("newest_us"),
    )
    tables = [
        TableOutput(
            raw_table(stream),
            v.valid,
            ("dt", "hour"),
            measures=raw_measures,
            columns=tuple(c for c in v.valid.columns if c != "late"),
        )
        for stream, v in batch.items()
    ]
    rejected = [v.quarantined for v in batch.values()]
    quarantine = rejected[0]
    for more in rejected[1:]:
        quarantine = quarantine.unionByName(more)
    per_topic = tuple(
        F.sum((F.col("topic") == topic).cast("long")).alias(f"rejected {topic}") for topic in topics.values()
    )
    return (*tables, TableOutput(QUARANTINE_TABLE, quarantine, ("dt",), measures=per_topic))


def judged_counts(measured: Mapping[str, Mapping[str, Any]], topics: Mapping[Stream, str]) -> JudgedCounts:
    """The step's counts from what :func:`batch_tables`' writes observed (table → measure → value)."""
    rejected = measured[QUARANTINE_TABLE]
    quarantined = {t: int(rejected[f"rejected {t}"] or 0) for t in topics.values()}
    streams: dict[Stream, StreamCounts] = {}
    for stream in topics:
        m = measured.get(raw_table(stream))
        if m and int(m["rows"]):
            streams[stream] = StreamCounts(
                valid=int(m["rows"]),
                late=int(m["late"] or 0),
                oldest=EPOCH + timedelta(microseconds=int(m["oldest_us"])),
                newest=EPOCH + timedelta(microseconds=int(m["newest_us"])),
            )
    rows_in = {
        topic: quarantined[topic] + (streams[s].valid if s in streams else 0) for s, topic in topics.items()
    }
    return JudgedCounts(
        {t: n for t, n in rows_in.items() if n}, {t: n for t, n in quarantined.items() if n}, streams
    )


def count_tables(outputs: Sequence[TableOutput]) -> dict[str, dict[str, Any]]:
    """What writing ``outputs`` would observe, computed without writing (for plans made in memory)."""
    return {
        o.table: o.frame.agg(F.count(F.lit(1)).alias("rows"), *o.measures).first().asDict() for o in outputs
    }


def _sec(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def next_clock(
    clock: WatermarkClock,
    counts: Mapping[Stream, StreamCounts],
    cfg: StreamSettings,
    ingest_time: datetime,
    *,
    flush: bool,
) -> WatermarkClock:
    """The clock after a step whose valid messages have ``counts`` (a flush has none)."""
    newest = [c.newest for c in counts.values() if c.newest is not None]
    new_max, seen = clock.max_event_time, clock.max_event_time_seen
    if newest:
        batch_max = min(max(newest), ingest_time + _sec(cfg.max_clock_lead_s))
        new_max = _later(new_max, batch_max)
        seen = _later(seen, max(newest))
    watermark = clock.watermark
    if new_max is not None:
        watermark = _later(watermark, new_max - _sec(cfg.watermark_delay_s))
    if flush and seen is not None:  # strictly past every open vehicle's t + gps_window
        watermark = _later(watermark, seen + _sec(cfg.finalize_after_s) + timedelta(microseconds=1))
    return WatermarkClock(watermark, new_max, seen)


def _later(value: datetime | None, other: datetime) -> datetime:
    return other if value is None else max(value, other)


def state_cutoffs(watermark: datetime, cfg: StreamSettings) -> dict[str, datetime]:
    """Oldest expiry value still needed per kind once the watermark is ``watermark``.

    Open vehicle events have ``t >= W - gps_window``; the look-ups reach back from there by their window.
    """
    a = _sec(cfg.finalize_after_s)
    # The anomaly rules read vehicle events back from the steady watermark, which trails W by up to
    # the flush's lead (a clock-ahead producer's newest event + G) plus the watermark delay.
    steady_lag = _sec(cfg.max_future_s + cfg.finalize_after_s + cfg.watermark_delay_s)
    return {
        "vehicle": watermark - max(a, _sec(cfg.dedup_horizon_s), steady_lag + _sec(VEHICLE_REACH_S)),
        "gps": watermark - a - _sec(cfg.gps_window_s),
        "weather": watermark - a - _sec(cfg.weather_window_s),
        "emergency": watermark - a - _sec(cfg.emergency_window_s),
        "late_ids": watermark,
    }


def _reach(cfg: StreamSettings) -> dict[str, tuple[float, float]]:
    """How far (before t, after t) a candidate of each kind can match a vehicle event at t."""
    return {
        "gps": (cfg.gps_window_s, cfg.gps_window_s),
        "weather": (cfg.weather_window_s, 0.0),
        "emergency": (cfg.emergency_window_s, 0.0),
    }


def steady_watermark(clock: WatermarkClock, cfg: StreamSettings) -> datetime | None:
    """The watermark as it would be without drain flushes: the newest event time minus the delay (the
    clock's newest only grows, so this is the running maximum). The silence rule judges by it."""
    if clock.max_event_time is None:
        return None
    return clock.max_event_time - _sec(cfg.watermark_delay_s)


def step_bounds(
    w0: datetime | None,
    w1: datetime | None,
    cfg: StreamSettings,
    steady: tuple[datetime | None, datetime | None] = (None, None),
) -> dict[str, datetime]:
    """Every instant a step's plans compare event times with, by name (the columns of the bounds frame).

    ``keep_<kind>``: state rows older are expired (as of W0); ``prune_<kind>``: rows older are not written
    to the state (no later step needs them, as of W1); ``final_until``: vehicles with ``t + G`` before it
    are final after this step (W1), ``open_from``: those with ``t + G`` from it were not final before (W0);
    ``<kind>_from``/``<kind>_until``: the candidates a vehicle final in this step can match;
    ``late_kept_until``: how long this step's late vehicle ids are remembered; ``steady_from``/
    ``steady_until``: the steady watermark (:func:`steady_watermark`) before and after the step.
    """
    start, end = w0 or BEGINNING, w1 or BEGINNING
    a = _sec(cfg.finalize_after_s)
    keep = state_cutoffs(start, cfg) if w0 is not None else dict.fromkeys(STATE_KINDS, BEGINNING)
    prune = state_cutoffs(end, cfg) if w1 is not None else dict.fromkeys(STATE_KINDS, BEGINNING)
    out = {f"keep_{k}": max(v, BEGINNING) for k, v in keep.items()}
    out |= {f"prune_{k}": max(v, BEGINNING) for k, v in prune.items()}
    out["open_from"], out["final_until"] = start, end
    for kind, (before, after) in _reach(cfg).items():
        out[f"{kind}_from"] = max(start - a - _sec(before), BEGINNING) if w0 is not None else BEGINNING
        out[f"{kind}_until"] = max(end - a + _sec(after), BEGINNING) if w1 is not None else BEGINNING
    out["late_kept_until"] = (w0 or EPOCH) + _sec(cfg.dedup_horizon_s)
    out["steady_from"], out["steady_until"] = (max(w or BEGINNING, BEGINNING) for w in steady)
    return out


def bounds_frame(spark: SparkSession, bounds: Mapping[str, datetime]) -> DataFrame:
    """The bounds as one row of a local relation: its values are data, so plans over it stay the same."""
    names = sorted(bounds)
    values = ", ".join(f"TIMESTAMP'{bounds[n].astimezone(UTC).isoformat()}'" for n in names)
    return spark.sql(f"SELECT * FROM VALUES ({values}) AS bounds({', '.join(names)})")


def live(df: DataFrame, kind: str, bounds: DataFrame) -> DataFrame:
    """The rows of a state kind not yet expired as of W0 (segments also expire as a whole, later)."""
    return where_bounded(df, bounds, F.col(EXPIRY_COLUMN[kind]) >= F.col(f"keep_{kind}"))


def state_schema(raw_schemas: Mapping[Stream, T.StructType]) -> T.StructType:
    """The one schema of every state row, ``kind`` first: the union of the kinds' columns, all nullable,
    typed as the raw tables type them (so the contract's types flow through)."""
    types: dict[str, T.DataType] = {"keep_until": T.TimestampType()}
    for kind, columns in STATE_COLUMNS.items():
        if kind == "late_ids":
            continue
        fields = {f.name: f.dataType for f in raw_schemas[_STREAM_OF_KIND[kind]].fields}
        for name in columns:
            types.setdefault(name, fields[name])
    names = list(dict.fromkeys(c for cols in STATE_COLUMNS.values() for c in cols))
    return T.StructType(
        [T.StructField("kind", T.StringType())] + [T.StructField(n, types[n], True) for n in names]
    )


def kind_rows(segments: DataFrame, kind: str) -> DataFrame:
    """One kind's rows of a frame in :func:`state_schema`, with that kind's columns."""
    return segments.where(F.col("kind") == kind).select(*STATE_COLUMNS[kind])


def _as_state(kind: str, df: DataFrame, schema: T.StructType) -> DataFrame:
    """``df`` (with ``kind``'s columns) in :func:`state_schema` (other kinds' columns null)."""
    present = set(df.columns)
    return df.select(
        *[
            F.lit(kind).alias("kind")
            if f.name == "kind"
            else (F.col(f.name) if f.name in present else typed_null(f))
            for f in schema.fields
        ]
    )


@dataclass(frozen=True)
class StepPlan:
    """What one step writes and decides; every frame lazy. ``enriched`` needs the step's accepted vehicle
    events, which the driver passes as written to the state (so the de-duplication is not recomputed),
    and the weather and emergency reports of :meth:`side_frames`, collected."""

    segments: DataFrame | None  # the step's new state rows of every kind (:func:`state_schema`)
    clock: WatermarkClock  # after the step
    prune_before: dict[str, datetime]  # per kind: rows expiring before this are no longer needed
    counts: JudgedCounts
    state: dict[str, DataFrame]  # live state as of W0, per kind
    candidates: dict[str, DataFrame]  # this step's on-time candidate rows (not pruned), per kind
    bounds: DataFrame
    cfg: StreamSettings
    bounds_at: Mapping[str, datetime] = field(default_factory=dict)  # the bounds frame's values

    def side_frames(self) -> dict[str, DataFrame]:
        """The weather and emergency reports the step's look-ups may need (the live state and this step's
        on-time reports), few enough for the driver: time as ``t_us`` (epoch microseconds), the columns of
        ``enrich``'s candidates plus their location."""
        weather = ("id", "device_id", "cell_id", "latitude", "longitude", *ENRICHED_WEATHER_FIELDS)
        emergency = ("id", "incident_id", "type", "status", "latitude", "longitude")
        return {
            kind: self.state[kind]
            .unionByName(self.candidates[kind])
            .select(F.unix_micros("event_time").alias("t_us"), *columns)
            for kind, columns in (("weather", weather), ("emergency", emergency))
        }

    def enriched(self, accepted: DataFrame, weather: pa.Table, emergency: pa.Table) -> DataFrame:
        """The vehicle events final in this step (open before, due now), enriched against every candidate
        that can match them: rows in ``enriched_columns()`` order plus ``dt``/``hour``. ``weather`` and
        ``emergency``: :meth:`side_frames`, collected."""
        vehicles = self.state["vehicle"].unionByName(accepted.select(*STATE_COLUMNS["vehicle"]))
        a = F.expr(f"INTERVAL {int(self.cfg.finalize_after_s * 1_000_000)} MICROSECONDS")
        due = F.col("event_time") + a
        final = where_bounded(
            vehicles, self.bounds, (due >= F.col("open_from")) & (due < F.col("final_until"))
        )
        gps = where_bounded(
            self.state["gps"].unionByName(self.candidates["gps"]),
            self.bounds,
            F.col("event_time").between(F.col("gps_from"), F.col("gps_until")),
        )
        at = {name: epoch_micros(value) for name, value in self.bounds_at.items()}
        reach = {kind: (at[f"{kind}_from"], at[f"{kind}_until"]) for kind in ("weather", "emergency")}
        return enrich(
            final, gps, within(weather, *reach["weather"]), within(emergency, *reach["emergency"]), self.cfg
        )

    def anomalies(self, accepted: DataFrame) -> DataFrame:
        """The flags this step raises (``smartcity.stream.anomalies``), given the step's accepted vehicle
        events: rows in ``ANOMALY_COLUMNS`` order plus ``dt``/``hour``."""
        vehicles = self.state["vehicle"].unionByName(accepted.select(*STATE_COLUMNS["vehicle"]))
        gps, weather = (self.state[k].unionByName(self.candidates[k]) for k in ("gps", "weather"))
        return anomalies(vehicles, gps, weather, self.bounds)


def plan_step(
    state: Mapping[str, DataFrame],
    clock: WatermarkClock,
    batch: Mapping[Stream, Validated] | None,
    counts: JudgedCounts,
    cfg: StreamSettings,
    *,
    ingest_time: datetime,
    schema: T.StructType,
) -> StepPlan:
    """Plan a step. ``state``: per kind the rows of the live segments (``STATE_COLUMNS``); ``batch``: the
    micro-batch's judged messages per stream (None for a flush); ``counts``: the batch's counts
    (:func:`judged_counts` of what the writes of :func:`batch_tables` observed); ``schema``:
    :func:`state_schema`."""
    spark = next(iter(state.values())).sparkSession
    after = next_clock(clock, counts.streams, cfg, ingest_time, flush=batch is None)
    steady = (steady_watermark(clock, cfg), steady_watermark(after, cfg))
    bounds_at = step_bounds(clock.watermark, after.watermark, cfg, steady)
    bounds = bounds_frame(spark, bounds_at)
    now_live = {kind: live(df, kind, bounds) for kind, df in state.items()}
    prune_before = state_cutoffs(after.watermark, cfg) if after.watermark is not None else {}
    if batch is None:
        empty = {kind: now_live[kind].limit(0) for kind in CANDIDATE_KINDS}
        return StepPlan(None, after, prune_before, counts, now_live, empty, bounds, cfg, bounds_at)

    ontime = {s: v.frame.where(F.col("error").isNull() & ~F.col("late")) for s, v in batch.items()}
    candidates = {
        "gps": ontime[Stream.GPS].select(*STATE_COLUMNS["gps"]),
        "weather": ontime[Stream.WEATHER].select(*STATE_COLUMNS["weather"]),
        "emergency": ontime[Stream.EMERGENCY].select(*STATE_COLUMNS["emergency"]),
    }
    # Joined by shuffle, not broadcast: a broadcast is a Spark job of its own.
    known = (
        now_live["vehicle"].select("id").unionByName(now_live["late_ids"].select("id")).hint("shuffle_hash")
    )
    vehicles = batch[Stream.VEHICLE].frame.where(F.col("error").isNull())
    others = [c for c in STATE_COLUMNS["vehicle"] if c != "id"]
    # Within the batch one copy per id: the one with the smallest (partition, offset).
    first = (
        vehicles.where(~F.col("late"))
        .groupBy("id")
        .agg(F.min(F.struct("kafka_partition", "kafka_offset", *others)).alias("r"))
        .select("id", *[F.col(f"r.{c}").alias(c) for c in others])
    )
    accepted = first.join(known, "id", "left_anti")
    late_ids = (
        vehicles.where(F.col("late"))
        .groupBy("id")
        .agg(F.min("event_time").alias("event_time"))
        .join(known, "id", "left_anti")
        .transform(lambda ids: with_bounds(ids, bounds.select(F.col("late_kept_until").alias("keep_until"))))
    )
    # Candidates are written only as far as later steps can still use them.
    kept = {
        kind: where_bounded(df, bounds, F.col("event_time") >= F.col(f"prune_{kind}"))
        for kind, df in candidates.items()
    }
    new_rows = {"vehicle": accepted, **kept, "late_ids": late_ids}
    segments = None
    for kind, df in new_rows.items():
        rows = _as_state(kind, df, schema)
        segments = rows if segments is None else segments.unionByName(rows)

    return StepPlan(segments, after, prune_before, counts, now_live, candidates, bounds, cfg, bounds_at)
