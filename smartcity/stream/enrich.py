"""The enrichment rules of issue 4 as one pure function over static DataFrames.

``enrich`` answers, for a set of *final* vehicle events, the three look-ups against candidate events
(the caller decides which events are final and which candidates may still be considered: see
``smartcity.stream.step``). GPS and weather are as-of look-ups (window functions over vehicles and
candidates sorted together per device or cell); emergencies, which need a distance and a count of
distinct incidents, are a banded range join. Every tie rule is a total order (a sort order or a struct
compared with ``min``), so the choice is deterministic whatever the partitioning or the arrival order.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from smartcity.contract import ENRICHED_VEHICLE_FIELDS, ENRICHED_WEATHER_FIELDS, enriched_columns
from smartcity.stream.geo import EARTH_RADIUS_KM, haversine_km, partition_columns
from smartcity.stream.settings import StreamSettings

VEHICLE_OWN = ENRICHED_VEHICLE_FIELDS


def _micros(ts: Column) -> Column:
    return F.unix_micros(ts)


_CANDIDATE, _VEHICLE = 0, 1


def _with_candidates(
    vehicles: DataFrame, candidates: DataFrame, key: str, payload: list[Column]
) -> DataFrame:
    """Vehicle rows and candidate rows in one frame, for as-of look-ups with window functions.

    Columns added: ``_k`` (the shared ``key``), ``_t`` (event time), ``_kind`` (candidate 0, vehicle 1),
    ``_cid`` (candidate id) and ``_c`` (the candidate's payload struct; null on vehicle rows). Candidates
    without a key can match nothing and are left out.
    """
    v = vehicles.select(
        "*", F.col(key).alias("_k"), F.col("event_time").alias("_t"), F.lit(_VEHICLE).alias("_kind")
    )
    c = candidates.where(F.col(key).isNotNull()).select(
        F.col(key).alias("_k"),
        F.col("event_time").alias("_t"),
        F.lit(_CANDIDATE).alias("_kind"),
        F.col("id").alias("_cid"),
        F.struct(*payload).alias("_c"),
    )
    return v.unionByName(c, allowMissingColumns=True)


def _last_candidate(time_order: Column) -> Column:
    """Per row, the last candidate payload so far in ``time_order`` (then candidates before vehicles at
    the same instant, so a candidate at exactly t counts, then ids descending, so the smallest id of
    that instant is the last).

    A running frame (start of the partition to the current row), which Spark updates incrementally; a
    frame from the current row to the partition's end is re-aggregated for every row (quadratic).
    """
    order = Window.partitionBy("_k").orderBy(time_order, "_kind", F.col("_cid").desc())
    return F.last("_c", ignorenulls=True).over(
        order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )


def _latest_at_or_before() -> Column:
    """Per row, the newest candidate with time <= the row's; at equal times the smallest id."""
    return _last_candidate(F.col("_t").asc())


def _earliest_at_or_after() -> Column:
    """Per row, the oldest candidate with time >= the row's; at equal times the smallest id."""
    return _last_candidate(F.col("_t").desc())


def with_nearest_gps(vehicles: DataFrame, gps: DataFrame, window_s: float) -> DataFrame:
    """Adds the same device's GPS event closest in time within +-window (inclusive) to each vehicle row.

    Ties: the earlier GPS event, then the smaller id. An as-of look-up in both directions (the newest
    GPS at or before t and the oldest at or after t are the only candidates for the closest) instead of
    a range join: the join produced one row per GPS fix in the window (about 21 per vehicle event at
    1 Hz) before choosing one.
    """
    payload = [
        F.col("id").alias("gps_event_id"),
        F.col("event_time").alias("_gt"),
        F.col("speed").alias("gps_speed"),
        F.col("direction").alias("gps_direction"),
        F.col("vehicle_type"),
    ]
    u = _with_candidates(vehicles, gps, "device_id", payload)
    u = u.select("*", _latest_at_or_before().alias("_p"), _earliest_at_or_after().alias("_n"))
    t = _micros(F.col("_t"))
    window_us = F.lit(int(window_s * 1_000_000))
    before = t - _micros(F.col("_p._gt"))
    after = _micros(F.col("_n._gt")) - t
    before_ok = F.coalesce(before <= window_us, F.lit(False))
    after_ok = F.coalesce(after <= window_us, F.lit(False))
    best = F.when(before_ok & (~after_ok | (before <= after)), F.col("_p")).when(after_ok, F.col("_n"))
    out = u.where(F.col("_kind") == _VEHICLE).withColumn("_g", best)
    return out.select(
        *vehicles.columns,
        F.col("_g.gps_event_id").alias("gps_event_id"),
        F.col("_g.gps_speed").alias("gps_speed"),
        F.col("_g.gps_direction").alias("gps_direction"),
        F.col("_g.vehicle_type").alias("vehicle_type"),
        ((_micros(F.col("_g._gt")) - t) / F.lit(1e6)).alias("gps_time_delta_s"),
    )


def with_latest_weather(vehicles: DataFrame, weather: DataFrame, window_s: float) -> DataFrame:
    """Adds the latest weather event of the same cell in [t - window, t] to each vehicle row; ties smaller id.

    An as-of look-up: the newest weather at or before t is the answer when it is inside the window (a
    range join paired every vehicle with every report of its cell in the last 15 minutes).
    """
    payload = [
        F.col("id").alias("weather_event_id"),
        F.col("device_id").alias("weather_station_id"),
        F.col("event_time").alias("weather_time"),
        *[F.col(c) for c in ENRICHED_WEATHER_FIELDS],
    ]
    u = _with_candidates(vehicles, weather, "cell_id", payload)
    u = u.select("*", _latest_at_or_before().alias("_p"))
    inside = _micros(F.col("_t")) - _micros(F.col("_p.weather_time")) <= F.lit(int(window_s * 1_000_000))
    out = u.where(F.col("_kind") == _VEHICLE).withColumn("_w", F.when(inside, F.col("_p")))
    names = ("weather_event_id", "weather_station_id", "weather_time", *ENRICHED_WEATHER_FIELDS)
    return out.select(*vehicles.columns, *[F.col(f"_w.{c}").alias(c) for c in names])


def nearby_incidents(
    vehicles: DataFrame, emergency: DataFrame, window_s: float, radius_km: float
) -> DataFrame:
    """Per vehicle event: Active emergency events in [t - window, t] within the radius.

    Returns the nearest incident (ties: smaller incident id) and the number of distinct incident ids.
    The join is an equi-join on latitude bands of the radius' angular size: two points closer than
    r km differ in latitude by at most r/R radians, so only the own and the two adjacent bands can match.
    """
    band_deg = math.degrees(radius_km / EARTH_RADIUS_KM)
    v = vehicles.select(
        "event_id",
        F.col("event_time").alias("_t"),
        F.col("latitude").alias("_lat"),
        F.col("longitude").alias("_lon"),
    ).where(F.col("_lat").isNotNull() & F.col("_lon").isNotNull())
    v = v.withColumn(
        "_band",
        F.explode(F.array(*[F.floor(F.col("_lat") / F.lit(band_deg)) + F.lit(k) for k in (-1, 0, 1)])),
    )
    e = (
        emergency.where(F.col("status") == "Active")
        .select(
            F.col("incident_id"),
            F.col("type").alias("_type"),
            F.col("event_time").alias("_et"),
            F.col("latitude").alias("_elat"),
            F.col("longitude").alias("_elon"),
        )
        .withColumn("_eband", F.floor(F.col("_elat") / F.lit(band_deg)))
    )
    window = F.expr(f"INTERVAL {int(window_s * 1_000_000)} MICROSECONDS")
    joined = v.join(
        e, (F.col("_band") == F.col("_eband")) & F.col("_et").between(F.col("_t") - window, F.col("_t"))
    )
    joined = joined.withColumn(
        "_d", haversine_km(F.col("_lat"), F.col("_lon"), F.col("_elat"), F.col("_elon"))
    )
    joined = joined.where(F.col("_d") <= F.lit(radius_km))
    best = F.min(F.struct(F.col("_d"), F.col("incident_id"), F.col("_type")))
    return (
        joined.groupBy("event_id")
        .agg(best.alias("n"), F.countDistinct("incident_id").cast("int").alias("incidents_within_radius"))
        .select(
            "event_id",
            F.col("n.incident_id").alias("nearest_incident_id"),
            F.col("n._type").alias("nearest_incident_type"),
            F.col("n._d").alias("nearest_incident_distance_km"),
            "incidents_within_radius",
        )
    )


def enrich(
    vehicles: DataFrame, gps: DataFrame, weather: DataFrame, emergency: DataFrame, cfg: StreamSettings
) -> DataFrame:
    """One row per vehicle event (``vehicles`` must be distinct by ``id``), left-joined with the rules.

    Output: ``enriched_columns()`` in order, then the partition columns ``dt``/``hour`` of the event time.
    """
    v = vehicles.select(F.col("id").alias("event_id"), *VEHICLE_OWN)
    out = (
        with_latest_weather(with_nearest_gps(v, gps, cfg.gps_window_s), weather, cfg.weather_window_s)
        .join(
            nearby_incidents(v, emergency, cfg.emergency_window_s, cfg.emergency_radius_km),
            "event_id",
            "left",
        )
        .withColumn("incidents_within_radius", F.coalesce(F.col("incidents_within_radius"), F.lit(0)))
    )
    dt, hour = partition_columns(F.col("event_time"))
    return out.select(*[c.name for c in enriched_columns()], dt.alias("dt"), hour.alias("hour"))
