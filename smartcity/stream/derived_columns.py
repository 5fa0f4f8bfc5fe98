"""Columns the job derives from an event: its grid cell and its Hive partition (dt, hour)."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def cell_id(lat: Column, lon: Column, cell_size_deg: float) -> Column:
    """``"<floor(lat/s)>:<floor(lon/s)>"``; null when the location is null."""
    row = F.floor(lat / F.lit(cell_size_deg)).cast("bigint")
    col = F.floor(lon / F.lit(cell_size_deg)).cast("bigint")
    return F.concat(row.cast("string"), F.lit(":"), col.cast("string"))


def partition_columns(ts: Column) -> tuple[Column, Column]:
    """Hive partition values ``dt=YYYY-MM-DD`` and ``hour=HH`` of a UTC timestamp (session zone is UTC)."""
    return F.date_format(ts, "yyyy-MM-dd"), F.date_format(ts, "HH")
