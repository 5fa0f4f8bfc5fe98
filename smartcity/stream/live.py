"""The live snapshot: what the city looks like after a step, as ONE small JSON object the dashboard reads.

Each step publishes ``<lake>/_live/snapshot.json`` as soon as its new state rows are written and its rows
collected (before the enrichment's writes and the commit, so the map does not wait for them): every
vehicle's latest position and
speed with its enrichment at that instant (the weather of its cell, the nearest active incident within the
radius, by the job's own look-up rules), the active incidents, the latest weather per grid cell, every
traffic camera's latest report, and the step's clock. The object is replaced whole (``HadoopFS.write_text``
writes a temporary name then moves it: a reader sees the old snapshot or the new, never a prefix).

Cost per step: no Spark job of its own. Its rows travel to the driver with the enrichment's weather and
emergency candidates in the step's one collect (``smartcity.stream.collect``): the step's new vehicle
rows and traffic files reduced to the latest per device inside their partitions (:func:`latest_frame`),
and the weather and emergency reports the step holds, which are few rows; then pure pandas on the driver
(:func:`build_snapshot`). Vehicles not seen in this step keep their position
from the previous snapshot until they fall out of the de-duplication horizon.

Published before the step commits, a snapshot may show a step that then fails. That is harmless: Spark
replays the same micro-batch (same offsets), and its snapshot merges the same rows into the one already
published by the latest-per-key rules, which give the same result applied twice; a failed flush step has
no input rows, only a later clock. Either way the next successful step replaces the object whole.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartcity.config import Stream, StreamSettings
from smartcity.contract import raw_columns, spark_schema
from smartcity.stream.derived_columns import as_type, typed_null
from smartcity.stream.enrichment_state import WrittenSegment
from smartcity.stream.hadoop_fs import HadoopFS, join_uri
from smartcity.stream.lookup import NONE, latest_weather, nearby_incidents
from smartcity.stream.sink import StepCommit
from smartcity.stream.state_version import WatermarkClock
from smartcity.stream.step import StepPlan

log = logging.getLogger("smartcity.stream")
_CAMERA_COLUMNS = ("id", "camera_id", "event_time", "latitude", "longitude")

SNAPSHOT_VERSION = 2
LIVE_PREFIX = "_live"
SNAPSHOT_NAME = "snapshot.json"
TRAFFIC_TABLE_MARKER = "/raw/traffic/"
# Every kind's rows travel to the driver in this one shape (columns a kind lacks are null).
LIVE_SCHEMA = T.StructType(
    [
        T.StructField("kind", T.StringType()),
        T.StructField("key", T.StringType()),  # device, camera, cell or incident id
        T.StructField("t_us", T.LongType()),
        T.StructField("id", T.StringType()),
        T.StructField("latitude", T.DoubleType()),
        T.StructField("longitude", T.DoubleType()),
        T.StructField("cell_id", T.StringType()),
        T.StructField("speed", T.DoubleType()),
        T.StructField("condition", T.StringType()),
        T.StructField("temperature", T.DoubleType()),
        T.StructField("precipitation", T.DoubleType()),
        T.StructField("type", T.StringType()),
        T.StructField("status", T.StringType()),
    ]
)
# The columns of the raw traffic table the snapshot reads (typed as the contract types them).
TRAFFIC_READ_SCHEMA = T.StructType(
    [f for f in spark_schema(raw_columns(Stream.TRAFFIC)).fields if f.name in _CAMERA_COLUMNS]
)
# Kinds reduced to their latest row per key inside each partition before the collect.
_LATEST_KINDS = ("vehicle", "camera")


def snapshot_uri(lake_uri: str) -> str:
    """Where the live snapshot lives (hidden from table listings by the ``_`` prefix)."""
    return join_uri(lake_uri, LIVE_PREFIX, SNAPSHOT_NAME)


def _shaped(df: DataFrame, kind: str, key: str, **columns: Any) -> DataFrame:
    """``df`` in :data:`LIVE_SCHEMA`: ``columns`` maps a live column to a source column name or Column."""
    out = []
    for f in LIVE_SCHEMA.fields:
        if f.name == "kind":
            out.append(F.lit(kind).alias("kind"))
        elif f.name == "key":
            out.append(F.col(key).cast("string").alias("key"))
        elif f.name == "t_us":
            out.append(F.unix_micros("event_time").alias("t_us"))
        elif f.name in columns:
            source = columns[f.name]
            value = F.col(source) if isinstance(source, str) else source
            out.append(as_type(value, f.dataType).alias(f.name))
        else:
            out.append(typed_null(f))
    return df.select(*out)


def _latest_in_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow``: per (kind, key) of the reduced kinds the newest row of the partition; others as is."""
    received = list(batches)
    if not received:
        return
    rows = pa.Table.from_batches(received)
    reduced = pc.is_in(rows.column("kind"), pa.array(_LATEST_KINDS))
    keep = rows.filter(pc.invert(reduced))
    some = rows.filter(reduced)
    if some.num_rows:
        some = some.sort_by([("kind", "ascending"), ("key", "ascending"), ("t_us", "descending")])
        kind = some.column("kind").to_numpy(zero_copy_only=False)
        key = some.column("key").to_numpy(zero_copy_only=False)
        first = np.ones(len(key), dtype=bool)
        first[1:] = (key[1:] != key[:-1]) | (kind[1:] != kind[:-1])
        keep = pa.concat_tables([keep, some.filter(pa.array(first))])
    yield from keep.to_batches()


def latest_frame(fs: HadoopFS, commit: StepCommit, written: WrittenSegment) -> DataFrame:
    """The step's vehicles and cameras, lazily, in :data:`LIVE_SCHEMA`: its accepted vehicle events and
    its published traffic rows (found through its sink record), each reduced to the latest per key in a
    Python pass over their few partitions, without a shuffle."""
    vehicles = _shaped(
        written.frames["vehicle"],
        "vehicle",
        "device_id",
        id="id",
        latitude="latitude",
        longitude="longitude",
        cell_id="cell_id",
        speed="speed",
    )
    traffic_files: Sequence[str] = step_traffic_files(fs, commit)
    # With the schema given: inferring it from the files would cost a Spark job of its own. Read even when
    # the step published no traffic file (a scan of no files): the plan keeps one shape, and its generated
    # code stays compiled from one step to the next.
    traffic = written.frames["vehicle"].sparkSession.read.schema(TRAFFIC_READ_SCHEMA).parquet(*traffic_files)
    cameras = _shaped(traffic, "camera", "camera_id", id="id", latitude="latitude", longitude="longitude")
    union = vehicles.unionByName(cameras)
    return union.mapInArrow(_latest_in_partition, LIVE_SCHEMA)


def snapshot_rows(collected: Mapping[str, pa.Table]) -> pd.DataFrame:
    """The rows a snapshot is built from, as a pandas frame in :data:`LIVE_SCHEMA`'s columns: the step's
    ``latest`` vehicles and cameras (:func:`latest_frame`) and the ``weather`` and ``emergency`` reports
    the step holds (``StepPlan.side_frames``), all collected."""
    names = [f.name for f in LIVE_SCHEMA.fields]
    w = collected["weather"].to_pandas()
    e = collected["emergency"].to_pandas()
    weather = pd.DataFrame(
        {
            "kind": "weather",
            "key": w["cell_id"],
            "t_us": w["t_us"],
            "id": w["id"],
            "cell_id": w["cell_id"],
            "condition": w["weather_condition"],
            "temperature": w["temperature"],
            "precipitation": w["precipitation"],
        }
    )
    incidents = pd.DataFrame(
        {
            "kind": "incident",
            "key": e["incident_id"],
            "t_us": e["t_us"],
            "id": e["id"],
            "latitude": e["latitude"],
            "longitude": e["longitude"],
            "type": e["type"],
            "status": e["status"],
        }
    )
    parts = [f for f in (collected["latest"].to_pandas(), weather, incidents) if not f.empty]
    if not parts:
        return pd.DataFrame({name: [] for name in names})
    return pd.concat(parts, ignore_index=True).reindex(columns=names)


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    """Per key the newest row (ties: the smaller event id), keys in order."""
    ordered = frame.sort_values(["key", "t_us", "id"], ascending=[True, False, True], kind="stable")
    return ordered.drop_duplicates("key", keep="first").reset_index(drop=True)


def _columns(frame: pd.DataFrame, names: Mapping[str, str]) -> dict[str, list[Any]]:
    """``frame``'s columns as JSON lists under their snapshot names (NaN becomes null)."""
    out: dict[str, list[Any]] = {}
    for source, name in names.items():
        values = frame[source].astype(object).where(frame[source].notna(), None)
        out[name] = [round(v, 6) if isinstance(v, float) else v for v in values.tolist()]
    return out


def cell_center(cell_id: str, cell_size_deg: float) -> tuple[float, float]:
    """The centre (lat, lon) of a grid cell ``"<floor(lat/s)>:<floor(lon/s)>"``."""
    row, col = cell_id.split(":")
    return (int(row) + 0.5) * cell_size_deg, (int(col) + 0.5) * cell_size_deg


def active_incidents(reports: pd.DataFrame, now_us: int, window_us: int) -> pd.DataFrame:
    """Incidents active at ``now_us``: the latest report at or before it is ``Active`` and within the
    window (at the same instant a non-Active report counts as the later one, as in the enrichment)."""
    seen = reports[reports["t_us"] <= now_us].copy()
    if seen.empty:
        return seen
    seen["_order"] = (seen["status"] != "Active").astype(int)
    current = seen.sort_values(["key", "t_us", "_order", "id"], kind="stable").drop_duplicates(
        "key", keep="last"
    )
    active = current[(current["status"] == "Active") & (current["t_us"] >= now_us - window_us)]
    return active.drop(columns="_order").reset_index(drop=True)


def _vehicles(rows: pd.DataFrame, previous: Mapping[str, Any] | None, oldest_us: int) -> pd.DataFrame:
    """Every vehicle's latest row: this step's, else the previous snapshot's, dropped once older than
    ``oldest_us``."""
    new = rows[rows["kind"] == "vehicle"][["key", "t_us", "id", "latitude", "longitude", "cell_id", "speed"]]
    frames = [new]
    if previous and previous.get("vehicles", {}).get("device_id"):
        v = previous["vehicles"]
        frames.append(
            pd.DataFrame(
                {
                    "key": v["device_id"],
                    "t_us": np.asarray(v["event_time_ms"], dtype=np.int64) * 1000,
                    "id": v["event_id"],
                    "latitude": v["latitude"],
                    "longitude": v["longitude"],
                    "cell_id": v["cell_id"],
                    "speed": v["speed"],
                }
            )
        )
    both = (
        pd.concat([f for f in frames if not f.empty], ignore_index=True)
        if any(not f.empty for f in frames)
        else new
    )
    latest = _latest(both) if not both.empty else both
    return latest[latest["t_us"] >= oldest_us].reset_index(drop=True)


def build_snapshot(
    rows: pd.DataFrame,
    previous: Mapping[str, Any] | None,
    clock: WatermarkClock,
    cfg: StreamSettings,
    *,
    step: str,
    published_at: datetime,
) -> dict[str, Any]:
    """The snapshot (a JSON-ready dict of column lists) from the collected rows, the previous snapshot and
    the job's clock after the step.

    "Now" is the job's newest event time (the city's clock); each vehicle is enriched at its own latest
    event time by the same look-ups as ``vehicle_enriched`` (weather of its cell within the weather
    window, the nearest active incident within the radius).
    """
    newest = [int(rows["t_us"].max())] if not rows.empty and rows["t_us"].notna().any() else []
    if clock.max_event_time is not None:
        newest.append(int(clock.max_event_time.timestamp() * 1_000_000))
    if previous and previous.get("now_ms") is not None:
        newest.append(int(previous["now_ms"]) * 1000)
    now_us = max(newest) if newest else int(published_at.timestamp() * 1_000_000)
    horizon_us = int(cfg.dedup_horizon_s * 1_000_000)

    vehicles = _vehicles(rows, previous, now_us - horizon_us)
    weather = rows[(rows["kind"] == "weather") & rows["key"].notna()].drop_duplicates("id")
    reports = rows[(rows["kind"] == "incident") & rows["key"].notna()].drop_duplicates("id")
    t = vehicles["t_us"].to_numpy(dtype=np.int64)
    w = latest_weather(
        t,
        vehicles["cell_id"].to_numpy(dtype=object),
        weather["t_us"].to_numpy(dtype=np.int64),
        weather["key"].to_numpy(dtype=object),
        weather["id"].to_numpy(dtype=object),
        int(cfg.weather_window_s * 1_000_000),
    )
    e, distance, within = nearby_incidents(
        t,
        vehicles["latitude"].to_numpy(dtype=float),
        vehicles["longitude"].to_numpy(dtype=float),
        reports["t_us"].to_numpy(dtype=np.int64),
        reports["latitude"].to_numpy(dtype=float),
        reports["longitude"].to_numpy(dtype=float),
        reports["key"].to_numpy(dtype=object),
        reports["type"].to_numpy(dtype=object),
        reports["status"].to_numpy(dtype=object),
        int(cfg.emergency_window_s * 1_000_000),
        cfg.emergency_radius_km,
    )
    conditions = weather["condition"].to_numpy(dtype=object)
    incident_ids = reports["key"].to_numpy(dtype=object)
    vehicles["weather_condition"] = [conditions[i] if i != NONE else None for i in w]
    vehicles["incident_id"] = [incident_ids[i] if i != NONE else None for i in e]
    vehicles["incident_km"] = np.where(e != NONE, np.round(distance, 3), np.nan)
    vehicles["incidents_within"] = within
    vehicles["event_time_ms"] = vehicles["t_us"] // 1000

    cells = _latest(weather[weather["t_us"] <= now_us]) if not weather.empty else weather
    centers = [cell_center(c, cfg.cell_size_deg) for c in cells["key"]]
    cells = cells.assign(
        latitude=[c[0] for c in centers],
        longitude=[c[1] for c in centers],
        event_time_ms=cells["t_us"] // 1000,
    )
    incidents = active_incidents(reports, now_us, int(cfg.emergency_window_s * 1_000_000))
    incidents = incidents.assign(event_time_ms=incidents["t_us"] // 1000)
    cameras = _cameras(rows, previous, now_us - horizon_us)

    return {
        "version": SNAPSHOT_VERSION,
        "step": step,
        "published_at": published_at.astimezone(UTC).isoformat(),
        "now_ms": now_us // 1000,
        "cell_size_deg": cfg.cell_size_deg,
        "radius_km": cfg.emergency_radius_km,
        "vehicles": _columns(
            vehicles,
            {
                "key": "device_id",
                "id": "event_id",
                "event_time_ms": "event_time_ms",
                "latitude": "latitude",
                "longitude": "longitude",
                "cell_id": "cell_id",
                "speed": "speed",
                "weather_condition": "weather_condition",
                "incident_id": "incident_id",
                "incident_km": "incident_km",
                "incidents_within": "incidents_within",
            },
        ),
        "incidents": _columns(
            incidents,
            {
                "key": "incident_id",
                "type": "type",
                "latitude": "latitude",
                "longitude": "longitude",
                "event_time_ms": "event_time_ms",
            },
        ),
        "weather": _columns(
            cells,
            {
                "key": "cell_id",
                "latitude": "latitude",
                "longitude": "longitude",
                "condition": "condition",
                "temperature": "temperature",
                "precipitation": "precipitation",
                "event_time_ms": "event_time_ms",
            },
        ),
        "cameras": _columns(
            cameras,
            {
                "key": "camera_id",
                "latitude": "latitude",
                "longitude": "longitude",
                "event_time_ms": "event_time_ms",
            },
        ),
        "clock": {
            "watermark": clock.watermark.isoformat() if clock.watermark else None,
            "max_event_time": clock.max_event_time.isoformat() if clock.max_event_time else None,
        },
    }


def _cameras(rows: pd.DataFrame, previous: Mapping[str, Any] | None, oldest_us: int) -> pd.DataFrame:
    """Every camera's latest report: this step's, else the previous snapshot's (until too old)."""
    new = rows[rows["kind"] == "camera"][["key", "t_us", "id", "latitude", "longitude"]]
    frames = [new] if not new.empty else []
    if previous and previous.get("cameras", {}).get("camera_id"):
        c = previous["cameras"]
        frames.append(
            pd.DataFrame(
                {
                    "key": c["camera_id"],
                    "t_us": np.asarray(c["event_time_ms"], dtype=np.int64) * 1000,
                    "id": [""] * len(c["camera_id"]),
                    "latitude": c["latitude"],
                    "longitude": c["longitude"],
                }
            )
        )
    both = pd.concat(frames, ignore_index=True) if frames else new
    latest = _latest(both) if not both.empty else both
    latest = latest[latest["t_us"] >= oldest_us].reset_index(drop=True)
    return latest.assign(event_time_ms=latest["t_us"] // 1000)


def step_traffic_files(fs: HadoopFS, commit: StepCommit) -> list[str]:
    """The raw traffic files this step published (from its sink record)."""
    text = fs.read_text(commit.record_uri)
    if not text:
        return []
    return [uri for uri in json.loads(text)["files"] if TRAFFIC_TABLE_MARKER in uri]


def read_previous(fs: HadoopFS, lake_uri: str) -> dict[str, Any] | None:
    """The last published snapshot, or None (none yet, or unreadable: the next one starts afresh)."""
    text = fs.read_text(snapshot_uri(lake_uri))
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and parsed.get("version") == SNAPSHOT_VERSION else None


def publish_live(
    fs: HadoopFS,
    lake_uri: str,
    commit: StepCommit,
    plan: StepPlan,
    collected: Mapping[str, pa.Table],
) -> dict[str, Any] | None:
    """Build this step's snapshot and replace the published one (the job's one call, once the step's raw
    files and state rows are written and its rows collected: see the module's docstring for why before
    the commit is safe). ``collected``: the ``latest``, ``weather`` and ``emergency`` rows of
    :func:`snapshot_rows`.

    A failure is logged and skipped, never fatal: the snapshot is only a view, and the next step
    publishes a complete one again.
    """
    try:
        return _publish(fs, lake_uri, commit, plan, collected)
    except Exception as exc:
        log.warning("live snapshot of step %s not published: %s", commit.step.key, exc)
        return None


def _publish(
    fs: HadoopFS,
    lake_uri: str,
    commit: StepCommit,
    plan: StepPlan,
    collected: Mapping[str, pa.Table],
) -> dict[str, Any]:
    started = time.monotonic()
    snapshot = build_snapshot(
        snapshot_rows(collected),
        read_previous(fs, lake_uri),
        plan.clock,
        plan.cfg,
        step=commit.step.key,
        published_at=datetime.now(UTC),
    )
    # What publishing cost (the snapshot write itself excepted), for the dashboard and the tests: no Spark
    # job of its own, its rows come with the step's one collect.
    snapshot["cost"] = {"spark_jobs": 0, "seconds": round(time.monotonic() - started, 3)}
    fs.write_text(snapshot_uri(lake_uri), json.dumps(snapshot, separators=(",", ":")))
    return snapshot
