"""Several small frames to the driver in one Spark job, as Arrow tables.

A step needs a few small sets of rows on the driver (the weather and emergency reports the enrichment
looks up, the latest vehicle and camera rows the live snapshot shows). Every Spark job costs the step
its scheduling and task start whatever its size, so they travel together: one union in which each frame
has a slot of columns of its own (the others' slots null) and a tag saying whose row it is.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from smartcity.stream.derived_columns import typed_null

_TAG = "_frame"


def _slot(position: int, field: T.StructField) -> str:
    return f"_{position}_{field.name}"


def collect_together(frames: Mapping[str, DataFrame], description: str) -> dict[str, pa.Table]:
    """Every row of ``frames`` on the driver, in one Spark job named ``description``: per name an Arrow
    table in that frame's schema. Frames hold small data (it all passes through the driver).

    Timestamps arrive as PySpark collects them (naive local datetimes): give them as epoch
    microseconds (``unix_micros``) in the frames when they matter.
    """
    names = list(frames)
    schemas = [frames[n].schema for n in names]
    union: DataFrame | None = None
    for position, name in enumerate(names):
        columns = [F.lit(position).alias(_TAG)]
        for other, schema in enumerate(schemas):
            for field in schema.fields:
                slot = _slot(other, field)
                columns.append(
                    F.col(field.name).alias(slot)
                    if other == position
                    else typed_null(T.StructField(slot, field.dataType))
                )
        shaped = frames[name].select(*columns)
        union = shaped if union is None else union.unionAll(shaped)
    assert union is not None, "nothing to collect"
    union.sparkSession.sparkContext.setJobDescription(description)
    rows = union.collect()
    out: dict[str, pa.Table] = {}
    start = 1
    for position, (name, schema) in enumerate(zip(names, schemas, strict=True)):
        width = len(schema.fields)
        mine = [r[start : start + width] for r in rows if r[0] == position]
        arrow = to_arrow_schema(schema)
        out[name] = pa.Table.from_pydict(
            {f.name: [r[i] for r in mine] for i, f in enumerate(schema.fields)}, schema=arrow
        )
        start += width
    return out
