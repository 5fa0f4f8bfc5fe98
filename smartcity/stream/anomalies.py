"""The anomaly rules (``smartcity.anomaly.rules``) as pure functions over a step's frames.

Every rule judges on-time, de-duplicated events once, in the step where the watermark makes the judgement
final, so the flags do not depend on how the input was cut into micro-batches (docs/streaming.md,
"Anomalies"):

* impossible speed and GPS jumps judge an event at t when the watermark first passes t (W0 <= t < W1):
  every earlier fix of its device that is not late has then arrived;
* a stuck sensor is judged on a weather report the same way, against the reports before it;
* a weather outlier is judged when its minute closes (W0 < minute end <= W1);
* a silence after an event at t is judged when the *steady* watermark (the newest event time minus the
  watermark delay, which the drain flush does not raise) first passes t + SILENCE_S.

The bounds frame carries W0/W1 (``open_from``/``final_until``) and the steady watermarks
(``steady_from``/``steady_until``); each flag's ``anomaly_id`` is derived from what it flags, so a
replayed step writes the same rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartcity.anomaly.rules import (
    ANOMALY_COLUMNS,
    DEVICE_SILENT,
    GPS_JUMP,
    IMPOSSIBLE_SPEED,
    MAX_IMPLIED_SPEED_KMH,
    MAX_PLAUSIBLE_SPEED_KMH,
    MAX_TEMPERATURE_DEVIATION_C,
    MIN_JUMP_DISTANCE_M,
    MIN_NEIGHBOUR_REPORTS,
    SILENCE_S,
    STUCK_REPORTS,
    STUCK_SENSOR,
    WEATHER_OUTLIER,
)
from smartcity.config import Stream
from smartcity.contract import ENRICHED_WEATHER_FIELDS, raw_columns, spark_schema
from smartcity.earth import EARTH_RADIUS_KM
from smartcity.stream.bounds import with_bounds
from smartcity.stream.derived_columns import partition_columns

# A station's reading: a stuck sensor repeats every one of these values.
READING_FIELDS = ENRICHED_WEATHER_FIELDS
READING_TYPE = T.StructType(
    [f for f in spark_schema(raw_columns(Stream.WEATHER)).fields if f.name in READING_FIELDS]
)
# How far back (event time) before the steady watermark the vehicle rules look: a jump compares an
# event with the two fixes before it, each at most SILENCE_S earlier.
VEHICLE_REACH_S = 2 * SILENCE_S
_MINUTE_S = 60


def _interval(seconds: float) -> Column:
    return F.expr(f"INTERVAL {round(seconds * 1_000_000)} MICROSECONDS")


def _seconds_between(earlier: Column, later: Column) -> Column:
    return (F.unix_micros(later) - F.unix_micros(earlier)) / F.lit(1_000_000.0)


def haversine_m(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in metres (the product's sphere, ``smartcity.earth``)."""
    p1, p2 = F.radians(lat1), F.radians(lat2)
    dlat, dlon = p2 - p1, F.radians(lon2) - F.radians(lon1)
    a = F.pow(F.sin(dlat / 2), 2) + F.cos(p1) * F.cos(p2) * F.pow(F.sin(dlon / 2), 2)
    return F.lit(2 * EARTH_RADIUS_KM * 1000.0) * F.asin(F.sqrt(F.least(F.lit(1.0), a)))


def device_frame(vehicles: DataFrame, gps: DataFrame, weather: DataFrame, bounds: DataFrame) -> DataFrame:
    """The rows the per-device rules read, in one frame (one shuffle by device for all of them), with the
    bounds' columns: accepted vehicle events from ``steady_from - VEHICLE_REACH_S`` on, the GPS fixes
    judged in this step, the weather reports (the live state's reach and this step's)."""
    reading = F.to_json(F.struct(*READING_FIELDS))
    null_double = F.lit(None).cast("double")
    v = vehicles.select(
        F.lit(Stream.VEHICLE.value).alias("stream"),
        "id",
        "device_id",
        "event_time",
        "latitude",
        "longitude",
        F.col("speed").cast("double").alias("speed"),
        F.lit(None).cast("string").alias("reading"),
        null_double.alias("temperature"),
    )
    g = gps.select(
        F.lit(Stream.GPS.value).alias("stream"),
        "id",
        "device_id",
        "event_time",
        null_double.alias("latitude"),
        null_double.alias("longitude"),
        F.col("speed").cast("double").alias("speed"),
        F.lit(None).cast("string").alias("reading"),
        null_double.alias("temperature"),
    )
    w = weather.select(
        F.lit(Stream.WEATHER.value).alias("stream"),
        "id",
        "device_id",
        "event_time",
        "latitude",
        "longitude",
        null_double.alias("speed"),
        reading.alias("reading"),
        F.col("temperature").cast("double").alias("temperature"),
    )
    rows = with_bounds(v.unionByName(g).unionByName(w), bounds)
    stream, t = F.col("stream"), F.col("event_time")
    keep = (
        ((stream == Stream.VEHICLE.value) & (t >= F.col("steady_from") - _interval(VEHICLE_REACH_S)))
        | ((stream == Stream.GPS.value) & (t >= F.col("open_from")) & (t < F.col("final_until")))
        | (stream == Stream.WEATHER.value)
    )
    return rows.where(keep)


def _per_device() -> Window:
    return Window.partitionBy("stream", "device_id").orderBy("event_time", "id")


def _impossible_move(a: Column, b: Column) -> Column:
    """Fix ``b`` is impossible after fix ``a`` (structs with event_time, latitude, longitude): at most
    SILENCE_S apart, at least MIN_JUMP_DISTANCE_M apart, faster than MAX_IMPLIED_SPEED_KMH. False when a
    fix is missing."""
    distance = haversine_m(a["latitude"], a["longitude"], b["latitude"], b["longitude"])
    seconds = _seconds_between(a["event_time"], b["event_time"])
    impossible = (
        (seconds <= SILENCE_S)
        & (distance >= MIN_JUMP_DISTANCE_M)
        & (distance * 3.6 > F.lit(MAX_IMPLIED_SPEED_KMH) * seconds)
    )
    return F.coalesce(impossible, F.lit(False))


def judge_devices(frame: DataFrame) -> DataFrame:
    """:func:`device_frame`'s rows, each message once, with ``flags``: the per-device rules it breaks
    (impossible speed, GPS jump, silence, stuck sensor) as ``(rule, evidence)`` structs."""
    w = _per_device()
    # The same message twice (same id, so same time and values): keep one, before any lag counts it.
    repeated = F.coalesce(F.lag("id").over(w) == F.col("id"), F.lit(False))
    frame = frame.select("*", repeated.alias("_repeated")).where(~F.col("_repeated")).drop("_repeated")
    fix = F.struct("id", "event_time", "latitude", "longitude")
    frame = frame.select(
        "*",
        F.lag(fix, 1).over(w).alias("p1"),
        F.lag(fix, 2).over(w).alias("p2"),
        F.lead("event_time").over(w).alias("next_time"),
        *[F.lag("reading", k).over(w).alias(f"r{k}") for k in range(1, STUCK_REPORTS + 1)],
    )
    t, stream = F.col("event_time"), F.col("stream")
    judged = (t >= F.col("open_from")) & (t < F.col("final_until"))
    here, p1, p2 = fix, F.col("p1"), F.col("p2")
    is_vehicle = stream == Stream.VEHICLE.value

    moving = stream.isin(Stream.VEHICLE.value, Stream.GPS.value)
    speed = judged & moving & (F.col("speed") > MAX_PLAUSIBLE_SPEED_KMH)
    # A jump away from the previous fix, unless that fix was itself a jump and this one comes back.
    jump = (
        judged
        & is_vehicle
        & _impossible_move(p1, here)
        & ~(_impossible_move(p2, p1) & ~_impossible_move(p2, here))
    )
    silence_end = t + _interval(SILENCE_S)
    silent = (
        is_vehicle
        & (silence_end >= F.col("steady_from"))
        & (silence_end < F.col("steady_until"))
        & (F.col("next_time").isNull() | (F.col("next_time") > silence_end))
    )
    same = [F.col(f"r{k}") == F.col("reading") for k in range(1, STUCK_REPORTS)]
    last = F.col(f"r{STUCK_REPORTS}")
    run_starts_here = last.isNull() | (last != F.col("reading"))
    stuck = judged & (stream == Stream.WEATHER.value) & F.coalesce(_all(same) & run_starts_here, F.lit(False))

    distance = haversine_m(p1["latitude"], p1["longitude"], F.col("latitude"), F.col("longitude"))
    interval_s = _seconds_between(p1["event_time"], t)
    flags = F.array(
        _flag(
            speed,
            IMPOSSIBLE_SPEED,
            F.struct(F.col("speed").alias("speed_kmh"), F.lit(MAX_PLAUSIBLE_SPEED_KMH).alias("limit_kmh")),
        ),
        _flag(
            jump,
            GPS_JUMP,
            F.struct(
                p1["id"].alias("previous_event_id"),
                p1["event_time"].alias("previous_event_time"),
                F.round(distance, 1).alias("distance_m"),
                interval_s.alias("interval_s"),
                F.round(F.when(interval_s > 0, distance * 3.6 / interval_s), 1).alias("implied_speed_kmh"),
                F.lit(MAX_IMPLIED_SPEED_KMH).alias("limit_kmh"),
                F.lit(MIN_JUMP_DISTANCE_M).alias("min_distance_m"),
            ),
        ),
        _flag(silent, DEVICE_SILENT, F.struct(t.alias("last_seen"), F.lit(SILENCE_S).alias("limit_s"))),
        _flag(
            stuck,
            STUCK_SENSOR,
            F.struct(
                F.from_json("reading", READING_TYPE).alias("reading"),
                F.lit(STUCK_REPORTS).alias("identical_reports"),
            ),
        ),
    )
    return frame.select(*frame.columns, F.filter(flags, lambda f: f.isNotNull()).alias("flags"))


def _all(conditions: list[Column]) -> Column:
    out = F.lit(True)
    for c in conditions:
        out = out & c
    return out


def _flag(condition: Column, rule: str, evidence: Column) -> Column:
    return F.when(condition, F.struct(F.lit(rule).alias("rule"), F.to_json(evidence).alias("evidence")))


def weather_outliers(reports: DataFrame) -> DataFrame:
    """Reports whose temperature is further than MAX_TEMPERATURE_DEVIATION_C from the median of the other
    stations' reports in the same minute (at least MIN_NEIGHBOUR_REPORTS of them), judged in the step
    where that minute closes (W0 < minute end <= W1)."""
    minute = F.date_trunc("minute", "event_time")
    end = minute + _interval(_MINUTE_S)
    closing = reports.where(
        (end > F.col("open_from")) & (end <= F.col("final_until")) & F.col("temperature").isNotNull()
    )
    others = F.filter(
        F.collect_list(F.struct("device_id", "temperature")).over(Window.partitionBy(minute)),
        lambda r: r["device_id"] != F.col("device_id"),
    )
    temps = F.array_sort(F.transform(F.col("others"), lambda r: r["temperature"]))
    n = F.size(temps)
    middle = F.element_at(temps, F.floor(n / 2).cast("int") + 1)
    lower = F.element_at(temps, F.greatest(F.floor((n + 1) / 2).cast("int"), F.lit(1)))
    median = (middle + lower) / 2
    judged = closing.select("*", others.alias("others")).select(
        "*", n.alias("neighbours"), median.alias("median")
    )
    deviation = F.abs(F.col("temperature") - F.col("median"))
    evidence = F.struct(
        "temperature",
        F.col("median").alias("neighbour_median"),
        "neighbours",
        F.lit(MAX_TEMPERATURE_DEVIATION_C).alias("limit_c"),
    )
    return judged.where(
        (F.col("neighbours") >= MIN_NEIGHBOUR_REPORTS) & (deviation > MAX_TEMPERATURE_DEVIATION_C)
    ).select(
        "stream",
        "device_id",
        "id",
        "event_time",
        "latitude",
        "longitude",
        F.struct(F.lit(WEATHER_OUTLIER).alias("rule"), F.to_json(evidence).alias("evidence")).alias("flag"),
    )


def anomalies(vehicles: DataFrame, gps: DataFrame, weather: DataFrame, bounds: DataFrame) -> DataFrame:
    """Every flag a step raises, in ``ANOMALY_COLUMNS`` order plus ``dt``/``hour`` of ``event_time``.

    ``vehicles``: the accepted vehicle events (live state and this step's); ``gps``, ``weather``: the
    on-time reports (live state and this step's, duplicates included); ``bounds``: the step's bounds frame.
    """
    judged = judge_devices(device_frame(vehicles, gps, weather, bounds))
    columns = ["stream", "device_id", "id", "event_time", "latitude", "longitude", "flag"]
    raised = judged.select(*columns[:-1], F.explode("flags").alias("flag"))
    reports = judged.where(F.col("stream") == Stream.WEATHER.value)
    flags = raised.unionByName(weather_outliers(reports).select(*columns))
    rule = F.col("flag.rule")
    event_id = F.when(rule != DEVICE_SILENT, F.col("id"))
    key = F.concat_ws(
        "|", rule, F.col("device_id"), F.coalesce(event_id, F.unix_micros("event_time").cast("string"))
    )
    dt, hour = partition_columns(F.col("event_time"))
    out = {
        "anomaly_id": F.substring(F.sha2(key, 256), 1, 32),
        "rule": rule,
        "stream": F.col("stream"),
        "device_id": F.col("device_id"),
        "event_id": event_id,
        "event_time": F.col("event_time"),
        "latitude": F.col("latitude"),
        "longitude": F.col("longitude"),
        "evidence": F.col("flag.evidence"),
    }
    return flags.select(
        *[out[name].cast(kind).alias(name) for name, kind in ANOMALY_COLUMNS.items()],
        dt.alias("dt"),
        hour.alias("hour"),
    )
