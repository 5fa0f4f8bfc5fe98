"""Columns the job derives from an event: its grid cell, its Hive partition (dt, hour), typed nulls."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T


def cell_id(lat: Column, lon: Column, cell_size_deg: float) -> Column:
    """``"<floor(lat/s)>:<floor(lon/s)>"``; null when the location is null."""
    row = F.floor(lat / F.lit(cell_size_deg)).cast("bigint")
    col = F.floor(lon / F.lit(cell_size_deg)).cast("bigint")
    return F.concat(row.cast("string"), F.lit(":"), col.cast("string"))


def partition_columns(ts: Column) -> tuple[Column, Column]:
    """Hive partition values ``dt=YYYY-MM-DD`` and ``hour=HH`` of a UTC timestamp (session zone is UTC)."""
    return F.date_format(ts, "yyyy-MM-dd"), F.date_format(ts, "HH")


def as_type(column: Column, data_type: T.DataType) -> Column:
    """``column`` cast to ``data_type``, named by its DDL string: PySpark casts to a ``DataType`` object
    through the active session's parser (several driver-to-JVM calls each), to a string in one."""
    return column.cast(data_type.simpleString())


def typed_null(field: T.StructField) -> Column:
    """A null of ``field``'s type under its name (a column a frame lacks, to line frames up for a union)."""
    return as_type(F.lit(None), field.dataType).alias(field.name)
