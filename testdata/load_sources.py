"""Synthetic lake tables in the streaming job's exact layout, for the loader's tests and benchmark.

The loader must be testable (and measurable at a million rows) without running the simulator and the
streaming job for an hour; these writers produce ``vehicle_enriched``, ``raw_weather`` and
``raw_emergency`` Parquet files with the contract's columns and Arrow types, Hive-partitioned by
``dt=YYYY-MM-DD/hour=HH`` (UTC) under the table folders the catalog expects. Values are random but
reproducible from a seed, with the match rates a real city run shows (most events have GPS and weather,
some are near an incident).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from smartcity.config import Stream
from smartcity.contract import arrow_schema, enriched_columns, raw_columns
from smartcity.contract.models import COMPASS

CONDITIONS = ("Sunny", "Cloudy", "Rain", "Snow")
INCIDENT_TYPES = ("Accident", "Fire", "Medical", "Police")
MAKES = (("BMW", "C500"), ("Toyota", "Corolla"), ("Ford", "Focus"), ("Tesla", "Model 3"))
FUELS = ("Petrol", "Diesel", "Hybrid", "Electric")
VEHICLE_TYPES = ("private", "taxi", "bus", "delivery")


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    return [str(uuid.UUID(bytes=row.tobytes(), version=4)) for row in raw]


def _cells(lat: np.ndarray, lon: np.ndarray, cell: float) -> list[str]:
    rows = np.floor(lat / cell).astype(np.int64)
    cols = np.floor(lon / cell).astype(np.int64)
    return [f"{r}:{c}" for r, c in zip(rows, cols, strict=True)]


def _masked(values: np.ndarray | list, present: np.ndarray) -> list:
    return [v if p else None for v, p in zip(values, present, strict=True)]


def enriched_rows(
    n: int, hour: datetime, *, seed: int = 0, devices: int = 200, stations: int = 20, cell: float = 0.05
) -> pa.Table:
    """``n`` distinct vehicle events inside ``hour`` (UTC), joined the way the stream would join them."""
    rng = np.random.default_rng(seed)
    hour = hour.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    times = [hour + timedelta(microseconds=int(us)) for us in rng.integers(0, 3_600_000_000, n)]
    lat = 52.45 + rng.random(n) * 0.2
    lon = -1.95 + rng.random(n) * 0.3
    dev = rng.integers(0, devices, n)
    make_idx = dev % len(MAKES)
    has_gps = rng.random(n) < 0.9
    has_weather = rng.random(n) < 0.8
    has_incident = rng.random(n) < 0.1
    station = rng.integers(0, stations, n)
    cols = {
        "event_id": _uuids(rng, n),
        "device_id": [f"vehicle-{d:05d}" for d in dev],
        "event_time": times,
        "latitude": lat,
        "longitude": lon,
        "speed": np.round(rng.random(n) * 150, 2),
        "direction": [COMPASS[i] for i in rng.integers(0, 8, n)],
        "make": [MAKES[i][0] for i in make_idx],
        "model": [MAKES[i][1] for i in make_idx],
        "year": (2000 + dev % 25).astype(np.int32),
        "fuel_type": [FUELS[d % len(FUELS)] for d in dev],
        "cell_id": _cells(lat, lon, cell),
        "gps_event_id": _masked(_uuids(rng, n), has_gps),
        "gps_speed": _masked(np.round(rng.random(n) * 150, 2), has_gps),
        "gps_direction": _masked([COMPASS[i] for i in rng.integers(0, 8, n)], has_gps),
        "vehicle_type": _masked([VEHICLE_TYPES[d % len(VEHICLE_TYPES)] for d in dev], has_gps),
        "gps_time_delta_s": _masked(np.round(rng.random(n) * 20 - 10, 3), has_gps),
        "weather_event_id": _masked(_uuids(rng, n), has_weather),
        "weather_station_id": _masked([f"station-{s:03d}" for s in station], has_weather),
        "weather_time": _masked([t - timedelta(minutes=5) for t in times], has_weather),
        "temperature": _masked(np.round(rng.random(n) * 40 - 5, 1), has_weather),
        "weather_condition": _masked([CONDITIONS[s % 4] for s in station], has_weather),
        "precipitation": _masked(np.round(rng.random(n) * 20, 1), has_weather),
        "wind_speed": _masked(np.round(rng.random(n) * 60, 1), has_weather),
        "humidity": _masked(np.round(rng.random(n) * 100, 1), has_weather),
        "air_quality_index": _masked(np.round(rng.random(n) * 300, 1), has_weather),
        "nearest_incident_id": _masked([f"incident-{i:04d}" for i in rng.integers(0, 30, n)], has_incident),
        "nearest_incident_type": _masked([INCIDENT_TYPES[i] for i in rng.integers(0, 4, n)], has_incident),
        "nearest_incident_distance_km": _masked(np.round(rng.random(n) * 2, 3), has_incident),
        "incidents_within_radius": np.where(has_incident, rng.integers(1, 3, n), 0).astype(np.int32),
    }
    return pa.table(cols, schema=arrow_schema(enriched_columns()))


def weather_rows(hour: datetime, *, seed: int = 0, stations: int = 20, per_station: int = 12) -> pa.Table:
    """Reports of ``stations`` weather stations within ``hour``, ids ``station-NNN`` as in enriched rows."""
    rng = np.random.default_rng(seed + 1)
    hour = hour.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    n = stations * per_station
    st = np.repeat(np.arange(stations), per_station)
    lat = 52.45 + (st % 5) * 0.04 + 0.001
    lon = -1.95 + (st // 5) * 0.07 + 0.001
    cols = {
        "id": _uuids(rng, n),
        "device_id": [f"station-{s:03d}" for s in st],
        "event_time": [hour + timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)],
        "latitude": lat,
        "longitude": lon,
        "cell_id": _cells(lat, lon, 0.05),
        "temperature": np.round(rng.random(n) * 40 - 5, 1),
        "weather_condition": [CONDITIONS[s % 4] for s in st],
        "precipitation": np.round(rng.random(n) * 20, 1),
        "wind_speed": np.round(rng.random(n) * 60, 1),
        "humidity": np.round(rng.random(n) * 100, 1),
        "air_quality_index": np.round(rng.random(n) * 300, 1),
        "kafka_partition": np.zeros(n, dtype=np.int32),
        "kafka_offset": np.arange(n, dtype=np.int64),
        "ingest_time": [hour + timedelta(minutes=59)] * n,
    }
    return pa.table(cols, schema=arrow_schema(raw_columns(Stream.WEATHER)))


def emergency_rows(
    hour: datetime, *, seed: int = 0, incidents: int = 30, resolved_share: float = 0.3
) -> pa.Table:
    """Two reports per incident within ``hour``: 'Active', then 'Active' or 'Resolved' later."""
    rng = np.random.default_rng(seed + 2)
    hour = hour.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    inc = np.repeat(np.arange(incidents), 2)
    n = len(inc)
    first = rng.integers(0, 1800, incidents)
    offsets = np.where(np.arange(n) % 2 == 0, first[inc], first[inc] + 600)
    resolved = rng.random(incidents) < resolved_share
    status = ["Resolved" if (i % 2 == 1 and resolved[inc[i]]) else "Active" for i in range(n)]
    lat = 52.45 + (inc % 7) * 0.02
    lon = -1.95 + (inc % 11) * 0.02
    cols = {
        "id": _uuids(rng, n),
        "device_id": [f"reporter-{i:03d}" for i in inc],
        "event_time": [hour + timedelta(seconds=int(s)) for s in offsets],
        "incident_id": [f"incident-{i:04d}" for i in inc],
        "type": [INCIDENT_TYPES[i % 4] for i in inc],
        "latitude": lat,
        "longitude": lon,
        "cell_id": _cells(lat, lon, 0.05),
        "status": status,
        "description": [f"report {k} of incident {i}" for k, i in enumerate(inc)],
        "kafka_partition": np.zeros(n, dtype=np.int32),
        "kafka_offset": np.arange(n, dtype=np.int64),
        "ingest_time": [hour + timedelta(minutes=59)] * n,
    }
    return pa.table(cols, schema=arrow_schema(raw_columns(Stream.EMERGENCY)))


def write_hour(table: pa.Table, table_dir: Path, hour: datetime, *, name: str | None = None) -> Path:
    """Write ``table`` as one Parquet file into ``table_dir/dt=YYYY-MM-DD/hour=HH/``; return its path."""
    part = table_dir / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    part.mkdir(parents=True, exist_ok=True)
    path = part / (name or f"part-{uuid.uuid4()}.snappy.parquet")
    pq.write_table(table, path, compression="snappy")
    return path
