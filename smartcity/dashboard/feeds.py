"""What the dashboard shows, read from the lake: the live snapshot and the per-step metrics history.

Both feeds keep what they last read: the snapshot feed keeps the last good snapshot when the object is
missing for a moment (it is being replaced), corrupt or half-written, and re-parses only when the object
changed; the metrics feed lists only the files after the newest one it already holds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from smartcity.dashboard.lake_reader import LakeReader
from smartcity.stream.live import LIVE_PREFIX, SNAPSHOT_NAME, SNAPSHOT_VERSION

SNAPSHOT_KEY = f"{LIVE_PREFIX}/{SNAPSHOT_NAME}"
METRICS_PREFIX = "_metrics/stream/"
# The layers of a snapshot and the columns each must have (the snapshot's own names).
LAYERS: dict[str, tuple[str, ...]] = {
    "vehicles": (
        "device_id",
        "event_time_ms",
        "latitude",
        "longitude",
        "speed",
        "weather_condition",
        "incident_id",
    ),
    "incidents": ("incident_id", "type", "latitude", "longitude"),
    "weather": ("cell_id", "latitude", "longitude", "condition", "temperature", "precipitation"),
    "cameras": ("camera_id", "latitude", "longitude"),
}


class SnapshotError(ValueError):
    """The snapshot object is not a complete snapshot of this version."""


@dataclass(frozen=True)
class LiveSnapshot:
    """One parsed snapshot: a frame per layer plus the job's clock after the step."""

    step: str
    published_at: datetime
    now: datetime  # the job's newest event time when it was built
    cell_size_deg: float
    radius_km: float
    layers: dict[str, pd.DataFrame]
    clock: dict[str, Any]  # the watermark and newest event time after the step (ISO strings or None)
    cost: dict[str, Any] = field(default_factory=dict)  # what publishing it cost the step

    @property
    def vehicles(self) -> pd.DataFrame:
        return self.layers["vehicles"]


def parse_snapshot(data: bytes) -> LiveSnapshot:
    """A snapshot from the object's bytes; :class:`SnapshotError` for anything incomplete or foreign."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise SnapshotError(f"not JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("version") != SNAPSHOT_VERSION:
        raise SnapshotError(f"not a version {SNAPSHOT_VERSION} snapshot")
    layers: dict[str, pd.DataFrame] = {}
    for name, required in LAYERS.items():
        columns = raw.get(name)
        if not isinstance(columns, dict) or any(c not in columns for c in required):
            raise SnapshotError(
                f"layer {name!r} lacks columns {[c for c in required if c not in (columns or {})]}"
            )
        if len({len(v) for v in columns.values()}) > 1:
            raise SnapshotError(f"layer {name!r} has columns of different lengths")
        layers[name] = pd.DataFrame(columns)
    try:
        return LiveSnapshot(
            step=str(raw["step"]),
            published_at=datetime.fromisoformat(raw["published_at"]),
            now=datetime.fromtimestamp(int(raw["now_ms"]) / 1000, UTC),
            cell_size_deg=float(raw["cell_size_deg"]),
            radius_km=float(raw["radius_km"]),
            layers=layers,
            clock=dict(raw["clock"]),
            cost=dict(raw.get("cost") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"missing or bad field ({exc})") from None


@dataclass(frozen=True)
class SnapshotRead:
    """What a refresh shows: the snapshot (None: none published yet) and why it may be an older one."""

    snapshot: LiveSnapshot | None
    problem: str | None = None  # set when the current object could not be used (the last good one shows)


class SnapshotFeed:
    """The latest good snapshot of a lake; safe to share between sessions."""

    def __init__(
        self, lake: LakeReader, clock: Callable[[], float] = time.monotonic, absent_for_s: float = 10.0
    ) -> None:
        self.lake = lake
        self._lock = threading.Lock()
        self._version: str | None = None
        self._good: LiveSnapshot | None = None
        self._problem: str | None = None
        self._clock = clock
        # Replacing the object leaves it absent for an instant; absent this long, it was deleted (a new run
        # cleared the lake) and the last snapshot is no longer the city's.
        self._absent_for_s = absent_for_s
        self._absent_since: float | None = None

    def read(self) -> SnapshotRead:
        with self._lock:
            version = self.lake.version(SNAPSHOT_KEY)
            if version is None:  # not yet published, or being replaced this instant
                now = self._clock()
                if self._absent_since is None:
                    self._absent_since = now
                elif now - self._absent_since >= self._absent_for_s:
                    self._good, self._version, self._problem = None, None, None
                return SnapshotRead(self._good, None)
            self._absent_since = None
            if version != self._version:
                data = self.lake.read(SNAPSHOT_KEY)
                if data is None:
                    return SnapshotRead(self._good, None)
                try:
                    self._good, self._problem = parse_snapshot(data), None
                except SnapshotError as exc:
                    self._problem = f"the latest snapshot is unreadable ({exc})"
                self._version = version
            return SnapshotRead(self._good, self._problem)


@dataclass
class MetricsFeed:
    """Every step's metrics, read incrementally (files are named in step order)."""

    lake: LakeReader
    _steps: list[dict[str, Any]] = field(default_factory=list)
    _last: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._last and self.lake.version(self._last) is None:  # the lake was cleared: start over
                self._steps, self._last = [], ""
            for key in self.lake.names(METRICS_PREFIX, start_after=self._last):
                if not key.endswith(".json") or "/step-" not in key:
                    continue
                data = self.lake.read(key)
                try:
                    self._steps.append(json.loads(data or b""))
                except ValueError:
                    continue  # being written: the step's next listing picks it up
                self._last = key
            return list(self._steps)


def steps_frame(steps: list[dict[str, Any]], *, since: timedelta | None = None) -> pd.DataFrame:
    """One row per step with ingest time, duration, lags and per-topic counts (columns ``rows_in.<topic>``,
    ``quarantined.<topic>``, ``late.<stream>``), the last ``since`` of ingest time only."""
    if not steps:
        return pd.DataFrame()
    frame = pd.json_normalize(steps)
    frame["ingest_time"] = pd.to_datetime(frame["ingest_time"], utc=True, format="ISO8601")
    frame = frame.sort_values("ingest_time").reset_index(drop=True)
    if since is not None:
        frame = frame[frame["ingest_time"] >= frame["ingest_time"].max() - since].reset_index(drop=True)
    return frame


def per_topic(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    """The ``<group>.<name>`` columns of :func:`steps_frame` as one column per name (0 where absent)."""
    columns = [c for c in frame.columns if c.startswith(group + ".")]
    out = frame[columns].fillna(0).astype("int64")
    out.columns = [c[len(group) + 1 :] for c in columns]
    return out


def events_per_second(frame: pd.DataFrame) -> pd.DataFrame:
    """Per step and topic, messages read divided by the time since the previous step's ingest time.

    The first step has no previous one and gets none; flush steps read nothing and are skipped."""
    if frame.empty:
        return pd.DataFrame()
    batches = frame[~frame["flush"].astype(bool)].reset_index(drop=True)
    gaps = batches["ingest_time"].diff().dt.total_seconds()
    counts = per_topic(batches, "rows_in")
    rates = counts.div(gaps, axis=0).iloc[1:]
    rates.index = batches["ingest_time"].iloc[1:]
    return rates


QUARANTINE_PREFIX = "quarantine/"


@dataclass
class QuarantineFeed:
    """Quarantined messages per reason (the error's kind, before its first ``:``), counted from the
    quarantine table's files, each file read once (the job publishes new files, never edits one)."""

    lake: LakeReader
    _counts: dict[str, int] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> dict[str, int]:
        import pyarrow.parquet as pq

        with self._lock:
            listed = self.lake.names(QUARANTINE_PREFIX)
            if not self._seen <= set(listed):  # files removed (a replay, a cleared lake): count afresh
                self._counts, self._seen = {}, set()
            for key in listed:
                if key in self._seen or not key.endswith(".parquet") or "/_" in key or "/." in key:
                    continue
                data = self.lake.read(key)
                if data is None:
                    continue  # removed by a replay: its replacement is listed next time
                errors = pq.read_table(pa_buffer(data), columns=["error"]).column("error").to_pylist()
                for error in errors:
                    reason = str(error).split(":", 1)[0]
                    self._counts[reason] = self._counts.get(reason, 0) + 1
                self._seen.add(key)
            return dict(sorted(self._counts.items()))


def pa_buffer(data: bytes) -> Any:
    """Bytes as a pyarrow input file."""
    import pyarrow as pa

    return pa.BufferReader(data)
