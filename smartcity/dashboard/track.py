"""A vehicle's recent track from the raw vehicle table: its events of the last minutes, in time order.

Reads only the ``dt``/``hour`` partitions the window touches, only the columns drawn, and filters by
device in pyarrow; the same code reads a local lake or S3 (through :class:`LakeReader`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from smartcity.dashboard.lake_reader import LakeReader

RAW_VEHICLE_PREFIX = "raw/vehicle/"
TRACK_COLUMNS = ["device_id", "event_time", "latitude", "longitude", "speed"]


def hour_partitions(start: datetime, end: datetime) -> list[str]:
    """The ``dt=YYYY-MM-DD/hour=HH/`` partition prefixes covering [start, end] (UTC)."""
    out = []
    t = start.replace(minute=0, second=0, microsecond=0)
    while t <= end:
        out.append(f"dt={t:%Y-%m-%d}/hour={t:%H}/")
        t += timedelta(hours=1)
    return out


def read_track(
    lake: LakeReader, device_id: str, end: datetime, window: timedelta, threads: int = 8
) -> pd.DataFrame:
    """The device's raw vehicle events with ``end - window <= event_time <= end``, oldest first."""
    keys = [
        k
        for part in hour_partitions(end - window, end)
        for k in lake.names(RAW_VEHICLE_PREFIX + part)
        if k.endswith(".parquet") and "/_" not in k
    ]

    def rows(key: str) -> pa.Table | None:
        data = lake.read(key)
        if data is None:
            return None
        table = pq.read_table(pa.BufferReader(data), columns=TRACK_COLUMNS)
        return table.filter(pc.equal(table.column("device_id"), device_id))

    with ThreadPoolExecutor(threads) as pool:
        tables = [t for t in pool.map(rows, keys) if t is not None and t.num_rows]
    if not tables:
        return pd.DataFrame(columns=TRACK_COLUMNS)
    frame = pa.concat_tables(tables, promote_options="default").to_pandas()
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    lo, hi = pd.Timestamp(end - window), pd.Timestamp(end)
    frame = frame[(frame["event_time"] >= lo) & (frame["event_time"] <= hi)]
    return frame.sort_values("event_time").drop_duplicates().reset_index(drop=True)
