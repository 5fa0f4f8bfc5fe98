"""The enrichment rules as one pure function over static DataFrames.

``enrich`` answers, for a set of *final* vehicle events, the three look-ups against candidate events
(the caller decides which events are final and which candidates may still be considered: see
``smartcity.stream.step``). One shuffle brings every vehicle event and GPS fix of a device into one
partition; one Python pass per partition (``mapInArrow``) then answers all three look-ups with the
vectorised functions of ``smartcity.stream.lookup``. Weather and emergency reports are few (the state
holds their windows' worth), so they travel to every task with the function, like the small side of a
broadcast join, and the vehicles are never shuffled by cell or joined back. Every tie rule is a total
order, so the choice is deterministic whatever the partitioning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from smartcity.config import StreamSettings
from smartcity.contract import (
    ENRICHED_VEHICLE_FIELDS,
    ENRICHED_WEATHER_FIELDS,
    enriched_columns,
    spark_schema,
)
from smartcity.stream.derived_columns import partition_columns
from smartcity.stream.lookup import NONE, latest_weather, nearby_incidents, nearest_gps

VEHICLE_OWN = ENRICHED_VEHICLE_FIELDS
# The GPS payload as it travels beside the vehicle rows (the enriched table's names).
_GPS_PAYLOAD = {"id": "gps_event_id", "speed": "gps_speed", "direction": "gps_direction"}


def _micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps (or int64 microseconds) as an int64 numpy array of microseconds since the epoch."""
    return pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)


def _strings(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False)


def _doubles(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Doubles with nulls as NaN (a missing location)."""
    return pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy(zero_copy_only=False)


def _positions(index: np.ndarray) -> pa.Array:
    """Row positions for ``take``; ``NONE`` becomes null, so ``take`` gives null (no match)."""
    return pa.array(index, mask=index == NONE)


# The columns enrich() needs of the weather and emergency reports it is given (time as epoch microseconds).
WEATHER_CANDIDATE_COLUMNS = ("t_us", "id", "device_id", "cell_id", *ENRICHED_WEATHER_FIELDS)
INCIDENT_CANDIDATE_COLUMNS = ("t_us", "incident_id", "type", "status", "latitude", "longitude")


def within(rows: pa.Table, first_us: int, last_us: int) -> pa.Table:
    """The rows whose ``t_us`` lies in ``[first_us, last_us]`` (both edges included)."""
    t = rows.column("t_us")
    return rows.filter(pc.and_(pc.greater_equal(t, first_us), pc.less_equal(t, last_us)))


def look_up(
    weather: pa.Table, incidents: pa.Table, cfg: StreamSettings, output: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: a partition holding every vehicle event and GPS fix of its devices
    in, the partition's vehicle events with the three look-ups' columns out (``enriched_columns()``).

    The whole partition is read before answering: the as-of look-ups need every fix of a device.
    """
    gps_window_us = int(cfg.gps_window_s * 1_000_000)
    weather_window_us = int(cfg.weather_window_s * 1_000_000)
    emergency_window_us = int(cfg.emergency_window_s * 1_000_000)
    weather = weather.filter(pc.is_valid(weather.column("cell_id")))  # a report without a cell matches none
    weather_t = _micros(weather.column("t_us"))
    weather_cell = _strings(weather.column("cell_id"))
    weather_id = _strings(weather.column("id"))
    incident_t = _micros(incidents.column("t_us"))
    incident_lat = _doubles(incidents.column("latitude"))
    incident_lon = _doubles(incidents.column("longitude"))
    incident_id = _strings(incidents.column("incident_id"))
    incident_type = _strings(incidents.column("type"))
    incident_status = _strings(incidents.column("status"))

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        received = list(batches)
        if not received:
            return
        rows = pa.Table.from_batches(received)
        is_vehicle = rows.column("_vehicle")
        vehicles = rows.filter(is_vehicle)
        if vehicles.num_rows == 0:
            return
        fixes = rows.filter(pc.invert(is_vehicle))
        t = _micros(vehicles.column("event_time"))
        gps_t = _micros(fixes.column("event_time"))
        g = nearest_gps(
            t,
            _strings(vehicles.column("device_id")),
            gps_t,
            _strings(fixes.column("device_id")),
            _strings(fixes.column("gps_event_id")),
            gps_window_us,
        )
        w = latest_weather(
            t, _strings(vehicles.column("cell_id")), weather_t, weather_cell, weather_id, weather_window_us
        )
        e, distance, count = nearby_incidents(
            t,
            _doubles(vehicles.column("latitude")),
            _doubles(vehicles.column("longitude")),
            incident_t,
            incident_lat,
            incident_lon,
            incident_id,
            incident_type,
            incident_status,
            emergency_window_us,
            cfg.emergency_radius_km,
        )
        gi, wi, ei = _positions(g), _positions(w), _positions(e)
        has_gps = g != NONE
        delta_s = (gps_t[np.where(has_gps, g, 0)] - t) / 1e6 if len(gps_t) else np.zeros(len(t))
        columns: dict[str, pa.Array | pa.ChunkedArray] = {
            "event_id": vehicles.column("event_id"),
            **{name: vehicles.column(name) for name in VEHICLE_OWN},
            **{name: fixes.column(name).take(gi) for name in (*_GPS_PAYLOAD.values(), "vehicle_type")},
            "gps_time_delta_s": pa.array(delta_s, mask=~has_gps),
            "weather_event_id": weather.column("id").take(wi),
            "weather_station_id": weather.column("device_id").take(wi),
            "weather_time": weather.column("t_us").take(wi).cast(output.field("weather_time").type),
            **{name: weather.column(name).take(wi) for name in ENRICHED_WEATHER_FIELDS},
            "nearest_incident_id": incidents.column("incident_id").take(ei),
            "nearest_incident_type": incidents.column("type").take(ei),
            "nearest_incident_distance_km": pa.array(distance, mask=e == NONE),
            "incidents_within_radius": pa.array(count, pa.int32()),
        }
        table = pa.Table.from_arrays([columns[f.name] for f in output], schema=output)
        yield from table.to_batches()

    return run


def enrich(
    vehicles: DataFrame, gps: DataFrame, weather: pa.Table, incidents: pa.Table, cfg: StreamSettings
) -> DataFrame:
    """One row per vehicle event (``vehicles`` must be distinct by ``id``), left-joined with the rules.

    ``weather`` and ``incidents``: the candidate reports, on the driver (``WEATHER_CANDIDATE_COLUMNS``,
    ``INCIDENT_CANDIDATE_COLUMNS``; every status, as a Resolved report ends its incident). Output:
    ``enriched_columns()`` in order, then the partition columns ``dt``/``hour`` of the event time; lazy.
    """
    weather_rows = weather.select(list(WEATHER_CANDIDATE_COLUMNS))
    incident_rows = incidents.select(list(INCIDENT_CANDIDATE_COLUMNS))
    v = vehicles.select(F.col("id").alias("event_id"), *VEHICLE_OWN, F.lit(True).alias("_vehicle"))
    fixes = gps.where(F.col("device_id").isNotNull()).select(
        "device_id",
        "event_time",
        *[F.col(source).alias(name) for source, name in _GPS_PAYLOAD.items()],
        "vehicle_type",
        F.lit(False).alias("_vehicle"),
    )
    schema = spark_schema(enriched_columns())
    by_device = v.unionByName(fixes, allowMissingColumns=True).repartition("device_id")
    out = by_device.mapInArrow(look_up(weather_rows, incident_rows, cfg, to_arrow_schema(schema)), schema)
    dt, hour = partition_columns(F.col("event_time"))
    return out.select("*", dt.alias("dt"), hour.alias("hour"))
