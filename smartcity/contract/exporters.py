"""Schemas for every consumer, generated from the column specs and models.

Spark is imported lazily: the simulator Lambda and the CLI use this package without a JVM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from smartcity.config import Stream
from smartcity.contract.columns import ColumnSpec
from smartcity.contract.models import CONTRACT_VERSION, MODELS

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

# Glue Data Catalog uses Hive type names, which happen to be these names exactly.
GLUE_TYPES = {
    "string": "string",
    "double": "double",
    "int": "int",
    "bigint": "bigint",
    "timestamp": "timestamp",
    "boolean": "boolean",
}
# UTC instants: TIMESTAMPTZ exists in PostgreSQL and Redshift and keeps the zone explicit.
_SQL_TYPES = {
    "postgres": {
        "string": "TEXT",
        "double": "DOUBLE PRECISION",
        "int": "INTEGER",
        "bigint": "BIGINT",
        "timestamp": "TIMESTAMPTZ",
        "boolean": "BOOLEAN",
    },
    "redshift": {
        "string": "VARCHAR(256)",
        "double": "DOUBLE PRECISION",
        "int": "INTEGER",
        "bigint": "BIGINT",
        "timestamp": "TIMESTAMPTZ",
        "boolean": "BOOLEAN",
    },
}


def json_schema(stream: Stream) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the message as producers send it."""
    schema = MODELS[stream].model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"smartcity/{CONTRACT_VERSION}/{stream.value}"
    schema["x-contract-version"] = CONTRACT_VERSION
    return schema


def spark_schema(columns: list[ColumnSpec]) -> StructType:
    """A Spark ``StructType`` with the columns' names, types and nullability."""
    from pyspark.sql import types as T

    spark_types = {
        "string": T.StringType(),
        "double": T.DoubleType(),
        "int": T.IntegerType(),
        "bigint": T.LongType(),
        "timestamp": T.TimestampType(),
        "boolean": T.BooleanType(),
    }
    return T.StructType(
        [T.StructField(c.name, spark_types[c.type], c.nullable, {"comment": c.description}) for c in columns]
    )


def arrow_type(type_name: str) -> Any:
    """The Arrow type of a contract column type (Parquet written by pyarrow, as Spark writes it: UTC µs)."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "double": pa.float64(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "boolean": pa.bool_(),
    }[type_name]


def arrow_schema(columns: list[ColumnSpec]) -> Any:
    """A ``pyarrow.Schema`` with the columns' names, types and nullability."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c.type), c.nullable) for c in columns])


def glue_columns(columns: list[ColumnSpec]) -> list[dict[str, str]]:
    """Glue ``StorageDescriptor.Columns`` (Glue has no NOT NULL, so it goes in the comment)."""
    return [
        {
            "Name": c.name,
            "Type": GLUE_TYPES[c.type],
            "Comment": (c.description + ("" if c.nullable else " (never null)"))[:255],
        }
        for c in columns
    ]


def sql_type(column: ColumnSpec, dialect: Literal["postgres", "redshift"] = "postgres") -> str:
    if dialect == "redshift" and column.type == "string" and column.max_length:
        return f"VARCHAR({min(column.max_length, 65535)})"
    return _SQL_TYPES[dialect][column.type]


def sql_ddl(
    table_name: str, columns: list[ColumnSpec], dialect: Literal["postgres", "redshift"] = "postgres"
) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the warehouse (PostgreSQL locally, Redshift on AWS)."""
    if dialect not in _SQL_TYPES:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected postgres or redshift")
    body = ",\n".join(
        f"    {c.name} {sql_type(c, dialect)}{'' if c.nullable else ' NOT NULL'}" for c in columns
    )
    return f"CREATE TABLE IF NOT EXISTS {table_name} (\n{body}\n);"
