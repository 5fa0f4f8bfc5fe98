"""Spatial column expressions: the grid cell and the haversine distance, as native Spark columns."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

EARTH_RADIUS_KM = 6371.0


def cell_id(lat: Column, lon: Column, cell_size_deg: float) -> Column:
    """``"<floor(lat/s)>:<floor(lon/s)>"`` (issue 4); null when the location is null."""
    row = F.floor(lat / F.lit(cell_size_deg)).cast("bigint")
    col = F.floor(lon / F.lit(cell_size_deg)).cast("bigint")
    return F.concat(row.cast("string"), F.lit(":"), col.cast("string"))


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in km on a sphere of radius 6371 km."""
    phi1, phi2 = F.radians(lat1), F.radians(lat2)
    dphi = F.radians(lat2 - lat1)
    dlmb = F.radians(lon2 - lon1)
    a = F.pow(F.sin(dphi / 2), 2) + F.cos(phi1) * F.cos(phi2) * F.pow(F.sin(dlmb / 2), 2)
    # least(1, .) guards asin against rounding just above 1 for antipodal points.
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.sqrt(F.least(F.lit(1.0), a)))


def partition_columns(ts: Column) -> tuple[Column, Column]:
    """Hive partition values ``dt=YYYY-MM-DD`` and ``hour=HH`` of a UTC timestamp (session zone is UTC)."""
    return F.date_format(ts, "yyyy-MM-dd"), F.date_format(ts, "HH")
