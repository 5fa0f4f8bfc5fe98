"""Lake rows → warehouse rows: pure DataFrame functions shared by ``smartcity load`` and the Glue job.

Nothing here reads or writes: the local loader feeds DataFrames read from the files the ledger has not
seen, the Glue job feeds DynamicFrames (converted with ``toDF``) that job bookmarks selected. Each function
returns exactly the target table's columns minus ``load_id`` (the MERGE sets it), one row per target key,
so the MERGE never sees a key twice.

Which duplicate wins: rows carry an optional ``_source_order`` (the local loader sets it to the source
file's modification time); the highest wins, then the latest ``event_time``, then the greatest event id,
so a re-run picks the same row every time.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartcity.config import Stream
from smartcity.contract import ColumnSpec, enriched_columns, raw_columns
from smartcity.contract.exporters import spark_schema

SOURCE_ORDER = "_source_order"


def conform(df: DataFrame, columns: list[ColumnSpec]) -> DataFrame:
    """Select the contract's columns with the contract's types; a column missing from older files is null.

    Keeps ``_source_order`` when present. Files written before a column was added to the contract do not
    have it; the catalog (and Spark's schema merge) show it as absent, and the warehouse shows it as NULL.
    """
    schema = spark_schema(columns)
    present = set(df.columns)
    cols = [
        (F.col(f.name) if f.name in present else F.lit(None)).cast(f.dataType).alias(f.name)
        for f in schema.fields
    ]
    if SOURCE_ORDER in present:
        cols.append(F.col(SOURCE_ORDER))
    return df.select(*cols)


def required_present(columns: list[ColumnSpec]) -> Column:
    """True when every NOT NULL column of the contract has a value (else the row is skipped, not loaded)."""
    cond = F.lit(True)
    for c in columns:
        if not c.nullable:
            cond = cond & F.col(c.name).isNotNull()
    return cond


def _order(df: DataFrame, *tie_breaks: str) -> list[Column]:
    order = [F.col(SOURCE_ORDER).desc_nulls_last()] if SOURCE_ORDER in df.columns else []
    return order + [F.col(c).desc_nulls_last() for c in tie_breaks]


def latest_per_key(df: DataFrame, key: str, *tie_breaks: str) -> DataFrame:
    """One row per ``key``: the winner by ``_source_order`` then ``tie_breaks`` (all descending).

    Duplicates are rare (a rewritten file, an overlapping re-run), so only their keys are shuffled: a
    key-only aggregation finds the duplicated keys, rows with a unique key pass through untouched, and
    only the duplicated rows are ranked. A full-row window would shuffle and sort every row of every load.

    The aggregation runs once, eagerly, here (a small job: Parquet hands over the key column alone), and
    when no key is duplicated -- the usual batch -- ``df`` comes back as it was. Left lazy, the
    anti/semi-join plan re-scanned every column of the batch twice for each consumer of the result (the
    fact's rows, then the vehicle dimension built from them) (docs/decisions/0005).
    """
    dup_keys = df.groupBy(key).count().where(F.col("count") > 1).select(key)
    if dup_keys.isEmpty():
        return df
    unique = df.join(F.broadcast(dup_keys), key, "left_anti")
    dups = df.join(F.broadcast(dup_keys), key, "left_semi")
    w = Window.partitionBy(key).orderBy(*_order(df, *tie_breaks))
    winners = dups.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")
    return unique.unionByName(winners)


def vehicle_telemetry(enriched: DataFrame, *, dedupe: bool = True) -> DataFrame:
    """``vehicle_enriched`` → ``fact_vehicle_telemetry``: one row per event id, plus ``event_hour``.

    ``dedupe=False`` skips the search for repeated event ids (an aggregation over every key of the
    batch): for a caller that lets the target's primary key detect a repeat and then asks again with
    ``dedupe=True`` (the local loader's COPY of new events, see ``smartcity.warehouse.loader``).
    """
    columns = enriched_columns()
    rows = conform(enriched, columns).where(required_present(columns))
    if dedupe:
        rows = latest_per_key(rows, "event_id", "event_time", "gps_event_id", "weather_event_id")
    out = [c.name for c in columns]
    out.insert(out.index("event_time") + 1, "event_hour")
    return rows.withColumn("event_hour", F.date_trunc("hour", F.col("event_time"))).select(*out)


def _max_by(value: str, order: Column) -> Column:
    return F.max_by(F.col(value), order).alias(value)


def vehicles(fact_rows: DataFrame) -> DataFrame:
    """Fact rows → ``dim_vehicle``: latest attributes per device, latest non-null vehicle type, seen range.

    The order key is ``(event_time, event_id)`` so equal times still pick one row deterministically.
    """
    order = F.struct(F.col("event_time"), F.col("event_id"))
    typed = F.when(F.col("vehicle_type").isNotNull(), order)
    return fact_rows.groupBy("device_id").agg(
        _max_by("make", order),
        _max_by("model", order),
        _max_by("year", order),
        _max_by("fuel_type", order),
        F.max_by(F.col("vehicle_type"), typed).alias("vehicle_type"),
        F.min("event_time").alias("first_seen"),
        F.max("event_time").alias("last_seen"),
    )


def weather_stations(raw_weather: DataFrame) -> DataFrame:
    """``raw_weather`` → ``dim_weather_station``: a station's latest position and its reporting period."""
    columns = raw_columns(Stream.WEATHER)
    rows = conform(raw_weather, columns).where(required_present(columns))
    order = F.struct(F.col("event_time"), F.col("id"))
    return rows.groupBy(F.col("device_id").alias("weather_station_id")).agg(
        _max_by("latitude", order),
        _max_by("longitude", order),
        _max_by("cell_id", order),
        F.min("event_time").alias("first_seen"),
        F.max("event_time").alias("last_seen"),
    )


def incidents(raw_emergency: DataFrame) -> DataFrame:
    """``raw_emergency`` → ``fact_incident``: per incident id, the first report time, the latest report's
    type/status/place/description, and the earliest 'Resolved' report time (null while still active)."""
    columns = raw_columns(Stream.EMERGENCY)
    rows = conform(raw_emergency, columns).where(required_present(columns))
    order = F.struct(F.col("event_time"), F.col("id"))
    resolved = F.when(F.col("status") == F.lit("Resolved"), F.col("event_time"))
    return rows.groupBy("incident_id").agg(
        F.max_by(F.col("type"), order).alias("incident_type"),
        _max_by("status", order),
        _max_by("description", order),
        _max_by("latitude", order),
        _max_by("longitude", order),
        _max_by("cell_id", order),
        F.min("event_time").alias("first_reported_at"),
        F.max("event_time").alias("last_reported_at"),
        F.min(resolved).cast(T.TimestampType()).alias("resolved_at"),
        F.max_by(F.col("id"), order).alias("last_event_id"),
    )
