"""The enrichment rules of issue 4 as one pure function over static DataFrames.

``enrich`` answers, for a set of *final* vehicle events, the three look-ups against candidate events
(the caller decides which events are final and which candidates may still be considered: see
``smartcity.stream.step``). Every tie rule is a total order expressed as a struct compared with
``min``, so the choice is deterministic whatever the partitioning or the arrival order.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from smartcity.contract import ENRICHED_VEHICLE_FIELDS, enriched_columns
from smartcity.stream.geo import EARTH_RADIUS_KM, haversine_km, partition_columns
from smartcity.stream.settings import StreamSettings

VEHICLE_OWN = ENRICHED_VEHICLE_FIELDS


def _micros(ts: Column) -> Column:
    return F.unix_micros(ts)


def nearest_gps(vehicles: DataFrame, gps: DataFrame, window_s: float) -> DataFrame:
    """Per vehicle event: the same device's GPS event closest in time within +-window (inclusive).

    Ties: the earlier GPS event, then the smaller id.
    """
    v = vehicles.select(F.col("event_id"), F.col("device_id").alias("_dev"), F.col("event_time").alias("_t"))
    g = gps.select(
        F.col("id").alias("gps_event_id"),
        F.col("device_id").alias("_gdev"),
        F.col("event_time").alias("_gt"),
        F.col("speed").alias("gps_speed"),
        F.col("direction").alias("gps_direction"),
        "vehicle_type",
    )
    window = F.expr(f"INTERVAL {int(window_s * 1_000_000)} MICROSECONDS")
    joined = v.join(
        g,
        (F.col("_dev") == F.col("_gdev")) & F.col("_gt").between(F.col("_t") - window, F.col("_t") + window),
    )
    delta_us = _micros(F.col("_gt")) - _micros(F.col("_t"))
    best = F.min(
        F.struct(
            F.abs(delta_us).alias("k1"),
            F.col("_gt").alias("k2"),
            F.col("gps_event_id"),
            F.col("gps_speed"),
            F.col("gps_direction"),
            F.col("vehicle_type"),
            (delta_us / F.lit(1e6)).alias("gps_time_delta_s"),
        )
    )
    return (
        joined.groupBy("event_id")
        .agg(best.alias("g"))
        .select(
            "event_id",
            "g.gps_event_id",
            "g.gps_speed",
            "g.gps_direction",
            "g.vehicle_type",
            "g.gps_time_delta_s",
        )
    )


def latest_weather(vehicles: DataFrame, weather: DataFrame, window_s: float) -> DataFrame:
    """Per vehicle event: the latest weather event of the same cell in [t - window, t]; ties smaller id."""
    v = vehicles.select("event_id", F.col("cell_id").alias("_cell"), F.col("event_time").alias("_t"))
    w = weather.select(
        F.col("id").alias("weather_event_id"),
        F.col("device_id").alias("weather_station_id"),
        F.col("event_time").alias("weather_time"),
        F.col("cell_id").alias("_wcell"),
        "temperature",
        "weather_condition",
        "precipitation",
        "wind_speed",
        "humidity",
        "air_quality_index",
    )
    window = F.expr(f"INTERVAL {int(window_s * 1_000_000)} MICROSECONDS")
    joined = v.join(
        w,
        (F.col("_cell") == F.col("_wcell"))
        & F.col("weather_time").between(F.col("_t") - window, F.col("_t")),
    )
    cols = (
        "weather_event_id",
        "weather_station_id",
        "weather_time",
        "temperature",
        "weather_condition",
        "precipitation",
        "wind_speed",
        "humidity",
        "air_quality_index",
    )
    best = F.min(F.struct((-_micros(F.col("weather_time"))).alias("k1"), *[F.col(c) for c in cols]))
    return joined.groupBy("event_id").agg(best.alias("w")).select("event_id", *[f"w.{c}" for c in cols])


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
        v.join(nearest_gps(v, gps, cfg.gps_window_s), "event_id", "left")
        .join(latest_weather(v, weather, cfg.weather_window_s), "event_id", "left")
        .join(
            nearby_incidents(v, emergency, cfg.emergency_window_s, cfg.emergency_radius_km),
            "event_id",
            "left",
        )
        .withColumn("incidents_within_radius", F.coalesce(F.col("incidents_within_radius"), F.lit(0)))
    )
    dt, hour = partition_columns(F.col("event_time"))
    return out.select(*[c.name for c in enriched_columns()], dt.alias("dt"), hour.alias("hour"))
