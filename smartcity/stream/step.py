"""One enrichment step: the watermark, late events, de-duplication and which vehicle events become final.

The job keeps its own event-time state instead of Spark's stream-stream joins (docs/streaming.md says
why): Spark's global watermark is the minimum over inputs by default, a quiet emergency stream would
stall everything, and Spark drops late rows inside its operators where the job cannot count them per
distinct id, which the reconciliation (enriched + late = distinct valid vehicle ids) needs.

The rules, applied per micro-batch, with W0 the watermark before the batch:

* an event is *late* when ``event_time < W0``: it stays in raw, is counted, and enrichment ignores it;
* a vehicle event whose id was already accepted or counted late within the de-dup horizon is a duplicate;
* ``W1 = max(W0, M - watermark_delay)`` with M the newest event time seen on *any* stream (max policy);
* a vehicle event at t is final, and written once to vehicle_enriched, in the step where
  ``t + gps_window`` first becomes <= the watermark: from then on no GPS, weather or emergency event
  that could change its row can be accepted (all of them would be late);
* ``flush`` (end of an --available-now drain) raises W1 to ``M + gps_window`` so every open vehicle is final.

State is append-only "segments" (one per step and kind) that expire by event time, so a step never
rewrites old state: ``StepResult.segments`` are the new rows, ``prune_before`` the expiry thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from smartcity.config import Stream
from smartcity.contract import ENRICHED_WEATHER_FIELDS
from smartcity.stream.enrich import enrich
from smartcity.stream.settings import StreamSettings

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
        *ENRICHED_WEATHER_FIELDS,
    ),
    "emergency": ("id", "incident_id", "type", "event_time", "latitude", "longitude", "status"),
    "late_ids": ("id", "event_time", "keep_until"),
}
# The column each kind expires on (late ids are kept by their own deadline, not their event time).
EXPIRY_COLUMN = {
    "vehicle": "event_time",
    "gps": "event_time",
    "weather": "event_time",
    "emergency": "event_time",
    "late_ids": "keep_until",
}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """PySpark collects timestamps as naive *local* datetimes; make them aware UTC instants."""
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Clock:
    """The job's event-time position: the watermark and the newest event time seen (None: nothing yet).

    Aware UTC datetimes: ``F.lit`` of a naive datetime would be read in the Python process' local zone.
    """

    watermark: datetime | None = None
    max_event_time: datetime | None = None


@dataclass(frozen=True)
class StreamCounts:
    """One stream's valid rows in a micro-batch: how many, how many late, and their event-time range."""

    valid: int = 0
    late: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None


@dataclass
class StepResult:
    segments: dict[str, DataFrame]
    clock: Clock
    # Per kind: rows with the expiry column below this instant are no longer needed after this step.
    prune_before: dict[str, datetime]
    counts: dict[Stream, StreamCounts] = field(default_factory=dict)
    watermark_before: datetime | None = None
    batch_max_event_time: datetime | None = None

    @property
    def counters(self) -> dict[str, int]:
        """``valid_<stream>`` and ``late_<stream>`` for every stream."""
        out: dict[str, int] = {}
        for stream in Stream:
            c = self.counts.get(stream, StreamCounts())
            out[f"valid_{stream.value}"], out[f"late_{stream.value}"] = c.valid, c.late
        return out


def _lit_ts(value: datetime) -> Column:
    return F.lit(value).cast("timestamp")


def _sec(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def is_late(watermark: datetime | None) -> Column:
    """Whether a row's ``event_time`` is behind ``watermark`` (the watermark before the micro-batch)."""
    return F.lit(False) if watermark is None else F.col("event_time") < _lit_ts(watermark)


def count_batch(batch: Mapping[Stream, DataFrame], watermark: datetime | None) -> dict[Stream, StreamCounts]:
    """Per stream: valid rows, late rows and the event-time range, in one Spark job."""
    summary = None
    for s, df in batch.items():
        part = df.select(F.lit(s.value).alias("s"), "event_time", is_late(watermark).alias("late"))
        summary = part if summary is None else summary.unionByName(part)
    if summary is None:
        return {}
    rows = (
        summary.groupBy("s")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.col("late").cast("int")).alias("late"),
            F.min("event_time").alias("mn"),
            F.max("event_time").alias("mx"),
        )
        .collect()
    )
    return {
        Stream(row["s"]): StreamCounts(
            valid=int(row["n"]),
            late=int(row["late"] or 0),
            oldest=as_utc(row["mn"]) if row["mn"] is not None else None,
            newest=as_utc(row["mx"]) if row["mx"] is not None else None,
        )
        for row in rows
    }


@dataclass(frozen=True)
class JudgedCounts:
    """A micro-batch's counts from its judged messages (``smartcity.stream.validate.judge``)."""

    rows_in: dict[str, int]  # messages per topic
    quarantined: dict[str, int]  # rejects per topic (topics without rejects absent)
    streams: dict[Stream, StreamCounts]  # valid messages per stream (as :func:`count_batch`)


def count_judged(
    judged: DataFrame, stream_of: Mapping[str, Stream], watermark: datetime | None
) -> JudgedCounts:
    """Messages and rejects per topic and :func:`count_batch`'s per-stream counts, in one Spark job over
    every topic's judged messages (``error`` null when valid; ``stream_of`` maps topic to stream)."""
    late = F.coalesce(is_late(watermark), F.lit(False))  # a reject has no event time
    rows = (
        judged.groupBy("topic", F.col("error").isNull().alias("ok"), late.alias("late"))
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.min("event_time").alias("oldest"),
            F.max("event_time").alias("newest"),
        )
        .collect()
    )
    rows_in: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    valid: dict[Stream, list[Row]] = {}
    for row in rows:
        topic, n = row["topic"], int(row["n"])
        rows_in[topic] = rows_in.get(topic, 0) + n
        if row["ok"]:
            valid.setdefault(stream_of[topic], []).append(row)
        else:
            quarantined[topic] = n
    streams = {
        stream: StreamCounts(
            valid=sum(int(r["n"]) for r in parts),
            late=sum(int(r["n"]) for r in parts if r["late"]),
            oldest=as_utc(min(r["oldest"] for r in parts)),
            newest=as_utc(max(r["newest"] for r in parts)),
        )
        for stream, parts in valid.items()
    }
    return JudgedCounts(rows_in, quarantined, streams)


def state_cutoffs(watermark: datetime, cfg: StreamSettings) -> dict[str, datetime]:
    """Oldest expiry value still needed per kind once the watermark is ``watermark``.

    Open vehicle events have ``t > W - gps_window``; the look-ups reach back from there by their window.
    """
    a = _sec(cfg.finalize_after_s)
    return {
        "vehicle": watermark - max(a, _sec(cfg.dedup_horizon_s)),
        "gps": watermark - a - _sec(cfg.gps_window_s),
        "weather": watermark - a - _sec(cfg.weather_window_s),
        "emergency": watermark - a - _sec(cfg.emergency_window_s),
        "late_ids": watermark,
    }


def step(
    state: dict[str, DataFrame],
    clock: Clock,
    batch: dict[Stream, DataFrame],
    cfg: StreamSettings,
    *,
    flush: bool = False,
    counts: Mapping[Stream, StreamCounts] | None = None,
) -> StepResult:
    """Advance the enrichment by one micro-batch.

    ``state`` holds the live rows per kind (``STATE_COLUMNS``) as of before the batch; ``batch`` the
    batch's *valid* rows per stream (raw-table columns). ``counts`` are the batch's per-stream counts
    with lateness judged against the watermark before the batch (the job gets them from its validation
    summary); without them one Spark job counts ``batch`` (:func:`count_batch`). Returns lazy frames.
    """
    w0 = clock.watermark
    a = _sec(cfg.finalize_after_s)

    late = is_late(w0)
    ontime = {s: df.where(~late) for s, df in batch.items()}
    if counts is None:
        counts = count_batch(batch, w0)
    newest = [c.newest for c in counts.values() if c.newest is not None]
    batch_max = max(newest) if newest else None
    new_max = clock.max_event_time
    if batch_max is not None:
        new_max = batch_max if new_max is None else max(new_max, batch_max)
    w1 = w0
    if new_max is not None:
        candidate = new_max - _sec(cfg.watermark_delay_s)
        w1 = candidate if w1 is None else max(w1, candidate)
        if flush:
            w1 = max(w1, new_max + a)

    known = state["vehicle"].select("id").unionByName(state["late_ids"].select("id"))
    vehicles = batch[Stream.VEHICLE]
    vcols = STATE_COLUMNS["vehicle"]
    # Within the batch, keep one copy per id: the one with the smallest (partition, offset).
    first = (
        vehicles.where(~late)
        .groupBy("id")
        .agg(F.min(F.struct("kafka_partition", "kafka_offset", *[c for c in vcols if c != "id"])).alias("r"))
        .select("id", *[F.col(f"r.{c}").alias(c) for c in vcols if c != "id"])
    )
    accepted = first.join(known, "id", "left_anti").select(*vcols)
    late_ids = (
        vehicles.where(late)
        .groupBy("id")
        .agg(F.min("event_time").alias("event_time"))
        .join(known, "id", "left_anti")
    )
    keep_until = (w0 or EPOCH) + _sec(cfg.dedup_horizon_s)
    late_ids = late_ids.select("id", "event_time", _lit_ts(keep_until).alias("keep_until"))

    segments = {
        "vehicle": accepted,
        "gps": ontime[Stream.GPS].select(*STATE_COLUMNS["gps"]),
        "weather": ontime[Stream.WEATHER].select(*STATE_COLUMNS["weather"]),
        "emergency": ontime[Stream.EMERGENCY]
        .where(F.col("status") == "Active")
        .select(*STATE_COLUMNS["emergency"]),
        "late_ids": late_ids,
    }

    return StepResult(
        segments=segments,
        clock=Clock(w1, new_max),
        prune_before=state_cutoffs(w1, cfg) if w1 is not None else {},
        counts=dict(counts),
        watermark_before=w0,
        batch_max_event_time=batch_max,
    )


def final_enriched(
    state: dict[str, DataFrame],
    segments: dict[str, DataFrame],
    w0: datetime | None,
    w1: datetime | None,
    cfg: StreamSettings,
) -> DataFrame:
    """The vehicle events that become final in this step, enriched against every accepted candidate.

    Separate from :func:`step` so the job can pass the vehicle segment *as written* (read back from
    Parquet) instead of recomputing the de-duplication for the enrichment.
    """
    accepted = segments["vehicle"]
    a = _sec(cfg.finalize_after_s)
    if w1 is None:
        final = accepted.limit(0)
    else:
        old = state["vehicle"]
        old_open = old if w0 is None else old.where(F.col("event_time") + F.expr(_interval(a)) > _lit_ts(w0))
        due = F.col("event_time") + F.expr(_interval(a)) <= _lit_ts(w1)
        final = old_open.where(due).unionByName(accepted.where(due))
    # Only candidates that can match a final vehicle (t in (W0 - a, W1 - a]) go into the look-ups: the
    # others wait in the state for the vehicles that will need them (in a long run most of the GPS state
    # and of a large batch's fixes belong to vehicles that are not final yet).
    reach = {  # kind: (how far before t, how far after t) a candidate can match
        "gps": (cfg.gps_window_s, cfg.gps_window_s),
        "weather": (cfg.weather_window_s, 0.0),
        "emergency": (cfg.emergency_window_s, 0.0),
    }
    pool: dict[str, DataFrame] = {}
    for kind in CANDIDATE_KINDS:
        before, after = reach[kind]
        rows = state[kind].unionByName(segments[kind])
        if w1 is None:
            pool[kind] = rows.limit(0)
            continue
        rows = rows.where(F.col("event_time") <= _lit_ts(w1 - a + _sec(after)))
        if w0 is not None:
            rows = rows.where(F.col("event_time") >= _lit_ts(w0 - a - _sec(before)))
        pool[kind] = rows
    return enrich(final, pool["gps"], pool["weather"], pool["emergency"], cfg)


def _interval(delta: timedelta) -> str:
    return f"INTERVAL {int(delta.total_seconds() * 1_000_000)} MICROSECONDS"


def live(df: DataFrame, kind: str, cutoffs: dict[str, datetime]) -> DataFrame:
    """The rows of a state kind still needed (row-level expiry; segments expire as a whole later)."""
    if kind not in cutoffs:
        return df
    return df.where(F.col(EXPIRY_COLUMN[kind]) >= _lit_ts(cutoffs[kind]))
