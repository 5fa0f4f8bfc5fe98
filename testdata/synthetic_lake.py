"""A deterministic synthetic lake in the streaming job's layout, written with pyarrow, for tests and benches.

Why it exists: the crawler and the saved queries must be testable (and benchmarkable at 10 M rows) without
running the simulator and the streaming job. Columns and types come from ``smartcity.contract`` so the files
look like the job's; values are generated vectorised with numpy (10 M rows in seconds), and Spark's litter
(``_spark_metadata/``, ``_SUCCESS``, ``.crc``, ``_temporary/``) is written beside the data so exclusions are
exercised. Timestamps are INT96 by default, Spark's default Parquet timestamp encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smartcity.anomaly.rules import (
    ANOMALY_COLUMNS,
    ANOMALY_KINDS,
    DEVICE_SILENT,
    IMPOSSIBLE_SPEED,
    STUCK_SENSOR,
    WEATHER_OUTLIER,
)
from smartcity.config import Stream
from smartcity.contract import (
    ENRICHED_VEHICLE_FIELDS,
    ColumnSpec,
    arrow_type,
    enriched_columns,
    quarantine_columns,
    raw_columns,
)
from smartcity.contract.models import COMPASS

# A compact city (about 11 km x 10 km) so that 2 km incident radii and grid cells are well populated.
LAT0, LAT1, LON0, LON1 = 51.45, 51.55, -0.15, -0.01
MAKES = np.array(["Toyota", "BMW", "Ford", "Tesla", "Volkswagen"])
MODELS = np.array(["Corolla", "X3", "Focus", "Model 3", "Golf"])
FUELS = np.array(["Petrol", "Diesel", "Hybrid", "Electric"])
CONDITIONS = np.array(["Sunny", "Cloudy", "Rain", "Snow"])
VEHICLE_TYPES = np.array(["private", "taxi", "bus", "delivery"])
INCIDENT_TYPES = np.array(["Accident", "Fire", "Medical", "Police"])
ERRORS = np.array(
    [
        "missing_field: speed is required",
        "wrong_type: year must be an integer",
        "out_of_range: speed 512.0 > 400",
        "invalid_json: Expecting value at line 1 column 1",
        "future_timestamp: timestamp more than 5 minutes ahead",
    ]
)
_HEX_ASCII = np.frombuffer("".join(f"{i:02x}" for i in range(256)).encode(), dtype=np.uint8).reshape(256, 2)


@dataclass
class SyntheticLake:
    """Where the lake was written and how many rows each table got (for tests' expectations)."""

    root: Path
    rows: dict[str, int] = field(default_factory=dict)


def fast_uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """UUID-4 strings built as ASCII bytes with numpy (Python's uuid4 needs ~10 s per 10 M)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = _HEX_ASCII[raw].reshape(n, 32)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src, width in ((0, 0, 8), (9, 8, 4), (14, 12, 4), (19, 16, 4), (24, 20, 12)):
        out[:, dst : dst + width] = hexed[:, src : src + width]
    return pa.array(out.view("S36").ravel(), type=pa.binary()).cast(pa.string())


def pick(choices: np.ndarray, idx: np.ndarray) -> pa.Array:
    """``choices[idx]`` as an Arrow string array (numpy unicode → Arrow conversion is ~10x slower)."""
    return pa.array(choices).take(pa.array(idx))


def _strings(values: np.ndarray) -> pa.Array:
    uniques, inverse = np.unique(values, return_inverse=True)
    return pick(uniques, inverse)


def names(prefix: str, count: int) -> np.ndarray:
    """``prefix0 … prefix{count-1}``: index this with integer codes instead of concatenating n strings."""
    return np.array([f"{prefix}{i}" for i in range(count)])


def cell_ids(lat: np.ndarray, lon: np.ndarray, cell_size: float) -> pa.Array:
    rows = pa.array(np.floor(lat / cell_size).astype(np.int64)).cast(pa.string())
    cols = pa.array(np.floor(lon / cell_size).astype(np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(rows, cols, ":")


def _with_copies(values: object, idx: np.ndarray) -> object:
    """``values`` followed by the rows at ``idx`` again (re-delivered messages)."""
    if isinstance(values, pa.Array):
        return pa.concat_arrays([values, values.take(pa.array(idx))])
    arr = np.asarray(values)
    return np.concatenate([arr, arr[idx]])


def _table(columns: list[ColumnSpec], values: dict[str, object]) -> pa.Table:
    """Arrow table in the contract's column order and types; every contract column must be generated."""
    arrays = []
    for c in columns:
        v = values[c.name]
        if isinstance(v, np.ndarray) and v.dtype.kind == "U":
            v = _strings(v)
        if isinstance(v, pa.Array):
            arrays.append(v.cast(arrow_type(c.type)))
        elif c.type == "timestamp":
            arrays.append(pa.array(np.asarray(v, dtype="datetime64[us]")).cast(arrow_type("timestamp")))
        else:
            arrays.append(pa.array(v, type=arrow_type(c.type), from_pandas=True))
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def _spark_litter(table_dir: Path) -> None:
    """What Spark's file sink leaves that is not data: must be ignored by crawler and queries."""
    meta = table_dir / "_spark_metadata"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "0").write_text('v1\n{"path":"part-0.parquet","size":1}\n')
    (table_dir / "_SUCCESS").write_text("")
    tmp = table_dir / "_temporary" / "0" / "_temporary" / "attempt_1"
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "part-99999.snappy.parquet").write_bytes(b"PAR1 not a finished file")


def _write_partitioned(
    table: pa.Table,
    table_dir: Path,
    event_time: np.ndarray,
    hourly: bool,
    files_per_partition: int,
    int96: bool,
    litter: bool,
) -> None:
    """Hive folders ``dt=YYYY-MM-DD[/hour=HH]`` of the UTC event time, a few files each."""
    codes = event_time.astype("datetime64[h]" if hourly else "datetime64[D]").astype(np.int64)
    order = np.argsort(codes, kind="stable")
    table = table.take(pa.array(order))
    codes = codes[order]
    uniques, starts = np.unique(codes, return_index=True)
    bounds = [*starts.tolist(), len(codes)]
    for i, code in enumerate(uniques.tolist()):
        lo, hi = bounds[i], bounds[i + 1]
        if hourly:
            moment = np.datetime64(code, "h").astype(datetime)
            part_dir = table_dir / f"dt={moment:%Y-%m-%d}" / f"hour={moment:%H}"
        else:
            part_dir = table_dir / f"dt={np.datetime64(code, 'D')}"
        part_dir.mkdir(parents=True, exist_ok=True)
        chunk = table.slice(lo, hi - lo)
        step = max(1, -(-chunk.num_rows // files_per_partition))
        for j, off in enumerate(range(0, chunk.num_rows, step)):
            path = part_dir / f"part-{j:05d}-{i:04d}.c000.snappy.parquet"
            pq.write_table(
                chunk.slice(off, step), path, compression="snappy", use_deprecated_int96_timestamps=int96
            )
            if litter:
                (part_dir / f".{path.name}.crc").write_bytes(b"crc")
    if litter:
        _spark_litter(table_dir)


def write_synthetic_lake(
    root: Path,
    *,
    vehicle_events: int = 2_000,
    start: datetime = datetime(2024, 5, 1, tzinfo=UTC),
    hours: int = 3,
    devices: int = 40,
    seed: int = 7,
    cell_size: float = 0.05,
    files_per_partition: int = 2,
    int96: bool = True,
    litter: bool = True,
    tables: tuple[str, ...] = ("raw", "quarantine", "enriched", "anomalies"),
) -> SyntheticLake:
    """Write the lake under ``root`` (``raw/<stream>``, ``quarantine``, ``enriched/vehicle_enriched``,
    ``anomalies``)."""
    rng = np.random.default_rng(seed)
    lake = SyntheticLake(root=root)
    t0 = np.datetime64(start.replace(tzinfo=None), "us")
    span_us = hours * 3_600_000_000
    device_names = np.array([f"vehicle-{i:04d}" for i in range(devices)])

    def times(n: int) -> np.ndarray:
        return t0 + rng.integers(0, span_us, n).astype("timedelta64[us]")

    def lags(n: int, late_share: float = 0.0) -> np.ndarray:
        lag = rng.exponential(2_000_000, n).astype(np.int64)
        late = rng.random(n) < late_share
        lag[late] += 600_000_000  # ten minutes: behind the streaming job's watermark
        return lag.astype("timedelta64[us]")

    def position(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.uniform(LAT0, LAT1, n), rng.uniform(LON0, LON1, n)

    def provenance(n: int, event_time: np.ndarray, late_share: float = 0.0) -> dict[str, object]:
        return {
            "kafka_partition": rng.integers(0, 3, n).astype(np.int32),
            "kafka_offset": np.arange(n, dtype=np.int64),
            "ingest_time": event_time + lags(n, late_share),
        }

    def write(
        name: str,
        rel: str,
        columns: list[ColumnSpec],
        values: dict[str, object],
        et: np.ndarray,
        keys: tuple[str, ...] = ("dt", "hour"),
    ) -> None:
        table = _table(columns, values)
        _write_partitioned(table, root / rel, et, keys == ("dt", "hour"), files_per_partition, int96, litter)
        lake.rows[name] = table.num_rows

    # Vehicles: distinct events, 1 % re-delivered (same id), 0.5 % arrive ten minutes late.
    n = vehicle_events
    et = times(n)
    lat, lon = position(n)
    dev = rng.integers(0, devices, n)
    ids = fast_uuids(rng, n)
    vehicle = {
        "id": ids,
        "device_id": pick(device_names, dev),
        "event_time": et,
        "latitude": lat,
        "longitude": lon,
        "cell_id": cell_ids(lat, lon, cell_size),
        "speed": np.clip(rng.normal(50, 25, n), 0, 200).round(1),
        "direction": pick(np.array(COMPASS), rng.integers(0, 8, n)),
        "make": pick(MAKES, dev % len(MAKES)),
        "model": pick(MODELS, dev % len(MODELS)),
        "year": (2005 + dev % 19).astype(np.int32),
        "fuel_type": pick(FUELS, dev % len(FUELS)),
    }
    if "raw" in tables:
        dup = rng.random(n) < 0.01
        dup_idx = np.flatnonzero(dup)
        raw_v = {k: _with_copies(v, dup_idx) for k, v in vehicle.items()}
        raw_v.update(provenance(len(raw_v["id"]), raw_v["event_time"], late_share=0.005))
        write("raw_vehicle", "raw/vehicle", raw_columns(Stream.VEHICLE), raw_v, raw_v["event_time"])

        g_et = et + rng.integers(-8_000_000, 8_000_000, n).astype("timedelta64[us]")
        gps = {
            "id": fast_uuids(rng, n),
            "device_id": vehicle["device_id"],
            "event_time": g_et,
            "speed": np.clip(vehicle["speed"] + rng.normal(0, 3, n), 0, 200).round(1),
            "direction": vehicle["direction"],
            "vehicle_type": pick(VEHICLE_TYPES, dev % len(VEHICLE_TYPES)),
            **provenance(n, g_et),
        }
        write("raw_gps", "raw/gps", raw_columns(Stream.GPS), gps, g_et)

        nt = max(1, n // 10)
        t_et = times(nt)
        cams = rng.integers(0, 12, nt)
        cam_lat = LAT0 + (cams % 4) * 0.025
        cam_lon = LON0 + (cams // 4) * 0.04
        traffic = {
            "id": fast_uuids(rng, nt),
            "device_id": pick(device_names, rng.integers(0, devices, nt)),
            "event_time": t_et,
            "camera_id": pick(names("camera-", 12), cams),
            "latitude": cam_lat,
            "longitude": cam_lon,
            "cell_id": cell_ids(cam_lat, cam_lon, cell_size),
            "snapshot": np.full(nt, "aGVsbG8="),
            **provenance(nt, t_et),
        }
        write("raw_traffic", "raw/traffic", raw_columns(Stream.TRAFFIC), traffic, t_et)

        stations, per_hour = 6, 12
        nw = stations * per_hour * hours
        w_et = t0 + (np.repeat(np.arange(per_hour * hours), stations) * 300_000_000).astype("timedelta64[us]")
        st = np.tile(np.arange(stations), per_hour * hours)
        w_lat = LAT0 + 0.02 + (st % 3) * 0.03
        w_lon = LON0 + 0.02 + (st // 3) * 0.06
        weather = {
            "id": fast_uuids(rng, nw),
            "device_id": pick(names("station-", stations), st),
            "event_time": w_et,
            "latitude": w_lat,
            "longitude": w_lon,
            "cell_id": cell_ids(w_lat, w_lon, cell_size),
            "temperature": rng.uniform(-5, 30, nw).round(1),
            "weather_condition": pick(CONDITIONS, rng.integers(0, 4, nw)),
            "precipitation": rng.uniform(0, 20, nw).round(1),
            "wind_speed": rng.uniform(0, 60, nw).round(1),
            "humidity": rng.uniform(20, 100, nw).round(1),
            "air_quality_index": rng.uniform(0, 300, nw).round(1),
            **provenance(nw, w_et),
        }
        write("raw_weather", "raw/weather", raw_columns(Stream.WEATHER), weather, w_et)

        ne = 8 * hours
        e_et = times(ne)
        e_lat, e_lon = position(ne)
        emergency = {
            "id": fast_uuids(rng, ne),
            "device_id": pick(names("reporter-", 5), rng.integers(0, 5, ne)),
            "event_time": e_et,
            "incident_id": pick(names("incident-", max(2, ne // 2)), rng.integers(0, max(2, ne // 2), ne)),
            "type": pick(INCIDENT_TYPES, rng.integers(0, 4, ne)),
            "latitude": e_lat,
            "longitude": e_lon,
            "cell_id": cell_ids(e_lat, e_lon, cell_size),
            "status": np.where(rng.random(ne) < 0.7, "Active", "Resolved"),
            "description": np.full(ne, "reported by a passer-by"),
            **provenance(ne, e_et),
        }
        write("raw_emergency", "raw/emergency", raw_columns(Stream.EMERGENCY), emergency, e_et)

    if "quarantine" in tables:
        nq = max(1, n // 50)
        ingest = times(nq)
        topics = np.array(["vehicle_data", "gps_data", "traffic_data", "weather_data", "emergency_data"])
        quarantine = {
            "topic": pick(topics, rng.integers(0, 5, nq)),
            "kafka_partition": rng.integers(0, 3, nq).astype(np.int32),
            "kafka_offset": np.arange(nq, dtype=np.int64),
            "kafka_timestamp": ingest - np.timedelta64(1, "s"),
            "raw_value": np.full(nq, '{"id": "x"}'),
            "error": pick(ERRORS, rng.integers(0, len(ERRORS), nq)),
            "ingest_time": ingest,
        }
        write("quarantine", "quarantine", quarantine_columns(), quarantine, ingest, keys=("dt",))

    def masked(values: object, mask: np.ndarray) -> pa.Array:
        arr = values if isinstance(values, pa.Array) else pa.array(values)
        return pc.if_else(pa.array(mask), arr, pa.scalar(None, arr.type))

    if "enriched" in tables:
        has_gps = rng.random(n) < 0.9
        has_weather = rng.random(n) < 0.93
        near = rng.random(n) < 0.15

        w_cond = pick(CONDITIONS, rng.integers(0, 4, n))
        enriched = {
            "event_id": ids,
            **{k: vehicle[k] for k in ENRICHED_VEHICLE_FIELDS},
            "gps_event_id": masked(fast_uuids(rng, n), has_gps),
            "gps_speed": masked(vehicle["speed"], has_gps),
            "gps_direction": masked(vehicle["direction"], has_gps),
            "vehicle_type": masked(pick(VEHICLE_TYPES, dev % len(VEHICLE_TYPES)), has_gps),
            "gps_time_delta_s": masked(rng.uniform(-10, 10, n).round(3), has_gps),
            "weather_event_id": masked(fast_uuids(rng, n), has_weather),
            "weather_station_id": masked(pick(names("station-", 6), rng.integers(0, 6, n)), has_weather),
            "weather_time": pa.array(
                et - rng.integers(0, 900_000_000, n).astype("timedelta64[us]"), mask=~has_weather
            ).cast(pa.timestamp("us")),
            "temperature": masked(rng.uniform(-5, 30, n).round(1), has_weather),
            "weather_condition": masked(w_cond, has_weather),
            "precipitation": masked(rng.uniform(0, 20, n).round(1), has_weather),
            "wind_speed": masked(rng.uniform(0, 60, n).round(1), has_weather),
            "humidity": masked(rng.uniform(20, 100, n).round(1), has_weather),
            "air_quality_index": masked(rng.uniform(0, 300, n).round(1), has_weather),
            "nearest_incident_id": masked(pick(names("incident-", 20), rng.integers(0, 20, n)), near),
            "nearest_incident_type": masked(pick(INCIDENT_TYPES, rng.integers(0, 4, n)), near),
            "nearest_incident_distance_km": masked(rng.uniform(0, 2, n).round(3), near),
            "incidents_within_radius": np.where(near, rng.integers(1, 3, n), 0).astype(np.int32),
        }
        write("vehicle_enriched", "enriched/vehicle_enriched", enriched_columns(), enriched, et)

    if "anomalies" in tables:
        na = max(len(ANOMALY_KINDS), n // 20)
        a_et = times(na)
        rule = np.array(ANOMALY_KINDS)[np.arange(na) % len(ANOMALY_KINDS)]
        weather_rule = np.isin(rule, [STUCK_SENSOR, WEATHER_OUTLIER])
        a_lat, a_lon = position(na)
        a_dev = np.where(
            weather_rule,
            names("station-", 6)[rng.integers(0, 6, na)],
            device_names[rng.integers(0, devices, na)],
        )
        anomalies = {
            "anomaly_id": fast_uuids(rng, na),
            "rule": rule,
            "stream": np.where(weather_rule, "weather", np.where(rule == IMPOSSIBLE_SPEED, "gps", "vehicle")),
            "device_id": a_dev,
            "event_id": masked(fast_uuids(rng, na), rule != DEVICE_SILENT),
            "event_time": a_et,
            "latitude": a_lat,
            "longitude": a_lon,
            "evidence": np.array([f'{{"rule":"{r}","limit":1.0,"measured":2.0}}' for r in rule]),
        }
        write("anomalies", "anomalies", anomaly_columns(), anomalies, a_et)
    return lake


def anomaly_columns() -> list[ColumnSpec]:
    """The anomalies table's columns (smartcity.anomaly.rules.ANOMALY_COLUMNS) as the lake writers' specs."""
    return [
        ColumnSpec(name, typ, name != "anomaly_id", f"anomalies.{name}")
        for name, typ in ANOMALY_COLUMNS.items()
    ]
