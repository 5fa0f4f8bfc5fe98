"""Run Athena SQL locally: catalog tables become DuckDB views over exactly their registered files.

Each referenced table becomes a view ``<database>.<table>`` over the Parquet files of its registered
partitions (hidden ``_``/``.`` files skipped, as Athena does), with the catalog's columns cast to the
catalog's types: a column the catalog has but older files lack reads as NULL, as it does in Athena.
Local lakes are read by DuckDB's own Parquet reader; S3 lakes through a pyarrow dataset (DuckDB's httpfs
extension cannot be installed offline).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from smartcity.catalog.crawler import catalog_errors, glue_client
from smartcity.catalog.exclusions import is_hidden
from smartcity.catalog.lake_files import LakeFiles, open_lake_files
from smartcity.config import Settings
from smartcity.errors import SmartCityError, UsageError
from smartcity.query.resolve import ResolvedTable, resolve_tables, sqlglot_schema
from smartcity.query.transpile import Transpiled, parse, referenced_tables, transpile

_SIMPLE_TYPES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "binary": "BLOB",
}


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    transpiled: Transpiled
    tables: dict[tuple[str, str], ResolvedTable]
    files: dict[str, int]


def duckdb_type(glue_type: str) -> str | None:
    """DuckDB type for a Glue column type; None for nested types (read as stored, no cast)."""
    t = glue_type.strip().lower()
    if t in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[t]
    if m := re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", t):
        return f"DECIMAL({m.group(1)},{m.group(2)})"
    return None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def partition_files(lake: LakeFiles, table: ResolvedTable) -> list[tuple[tuple[str, ...], str]]:
    """``(partition values, filesystem path)`` of every data file Athena would read for the table."""
    out: list[tuple[tuple[str, ...], str]] = []
    locations = table.partitions if table.partition_keys else [((), table.location)]
    for values, location in locations:
        root = lake.fs_path_of_uri(location)
        for f in lake.list_files(root):
            if not is_hidden(f.relative):
                out.append((values, f.fs_path))
    return out


def _projection(table: ResolvedTable, present: set[str]) -> str:
    cols = []
    for name, typ in table.columns:
        duck = duckdb_type(typ)
        if name not in present:
            cols.append(f"CAST(NULL AS {duck or 'VARCHAR'}) AS {_q(name)}")
        elif duck:
            cols.append(f"CAST({_q(name)} AS {duck}) AS {_q(name)}")
        else:
            cols.append(_q(name))
    cols += [f"CAST({_q(k)} AS VARCHAR) AS {_q(k)}" for k in table.partition_keys]
    return ", ".join(cols)


def _create_view(con: duckdb.DuckDBPyConnection, lake: LakeFiles, table: ResolvedTable) -> int:
    """Create ``database.table`` as a view over the registered files; returns the file count."""
    view = f"{_q(table.database)}.{_q(table.name)}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(table.database)}")
    files = partition_files(lake, table)
    if not files:
        empty = ", ".join(
            f"CAST(NULL AS {duckdb_type(t) or 'VARCHAR'}) AS {_q(n)}" for n, t in table.all_columns
        )
        con.execute(f"CREATE VIEW {view} AS SELECT {empty} WHERE false")
        return 0
    source = _local_source(table, files) if lake.is_local else _arrow_source(con, lake, table, files)
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    con.execute(f"CREATE VIEW {view} AS SELECT {_projection(table, present)} FROM {source}")
    return len(files)


def _local_source(table: ResolvedTable, files: list[tuple[tuple[str, ...], str]]) -> str:
    """DuckDB's reader; partition values come from ``key=value`` folders, checked against the catalog."""
    for values, path in files:
        for key, value in zip(table.partition_keys, values, strict=True):
            if f"/{key}={value}/" not in path:
                raise SmartCityError(
                    f"{table.name}: partition {dict(zip(table.partition_keys, values, strict=True))} is "
                    f"registered at a location that is not a {key}={value} folder ({path})"
                )
    paths = ", ".join(_lit(p) for _, p in files)
    hive = ""
    if table.partition_keys:
        types = ", ".join(f"{_lit(k)}: 'VARCHAR'" for k in table.partition_keys)
        hive = f", hive_partitioning = true, hive_types = {{{types}}}"
    return f"read_parquet([{paths}], union_by_name = true{hive})"


def _arrow_source(
    con: duckdb.DuckDBPyConnection,
    lake: LakeFiles,
    table: ResolvedTable,
    files: list[tuple[tuple[str, ...], str]],
) -> str:
    """A pyarrow dataset over S3 files with the partition values from the catalog, registered in DuckDB."""
    fmt = ds.ParquetFileFormat()
    schemas = [fmt.inspect(p, filesystem=lake.fs) for _, p in files]
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    fragments = []
    for values, path in files:
        expr = ds.field(table.partition_keys[0]) == values[0] if values else None
        for k, v in zip(table.partition_keys[1:], values[1:], strict=True):
            expr = expr & (ds.field(k) == v)
        fragments.append(fmt.make_fragment(path, filesystem=lake.fs, partition_expression=expr))
    full = pa.schema(list(unified) + [pa.field(k, pa.string()) for k in table.partition_keys])
    dataset = ds.FileSystemDataset(fragments, full, fmt, filesystem=lake.fs)
    alias = f"__arrow_{table.database}_{table.name}"
    con.register(alias, dataset)
    return _q(alias)


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Athena's timestamp is zone-less UTC here: the lake's partitions and event times are UTC.
    con.execute("SET TimeZone = 'UTC'")
    return con


@dataclass
class PreparedQuery:
    """A DuckDB connection holding the catalog tables' views, and the translated query to run on it."""

    con: duckdb.DuckDBPyConnection
    transpiled: Transpiled
    tables: dict[tuple[str, str], ResolvedTable]
    files: dict[str, int]

    def execute(self, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run the query with ``params`` bound to its ``?`` in order (DuckDB prepared-statement values)."""
        expected = self.transpiled.placeholders
        if len(params) != expected:
            raise UsageError(
                f"the query takes {expected} parameter value(s) ('?' placeholders), got {len(params)}"
            )
        try:
            cursor = self.con.execute(self.transpiled.duckdb_sql, list(params))
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            raise SmartCityError(f"DuckDB could not run the translated query: {message}") from None
        return [d[0] for d in cursor.description], cursor.fetchall()

    def close(self) -> None:
        self.con.close()


def translate(
    settings: Settings, sql: str, *, reference_time: datetime | None = None, glue: Any = None
) -> tuple[Transpiled, dict[tuple[str, str], ResolvedTable]]:
    """Resolve the query's tables through the catalog and translate it with the catalog's types."""
    refs = referenced_tables(parse(sql))
    glue = glue or glue_client(settings)
    with catalog_errors(settings):
        tables = resolve_tables(glue, settings.catalog_database, refs)
    transpiled = transpile(
        sql,
        schema=sqlglot_schema(tables),
        database=settings.catalog_database,
        reference_time=reference_time,
    )
    return transpiled, tables


def prepare(
    settings: Settings, sql: str, *, reference_time: datetime | None = None, glue: Any = None
) -> PreparedQuery:
    """Translate the query and create the views of its tables over their registered files."""
    transpiled, tables = translate(settings, sql, reference_time=reference_time, glue=glue)
    lake = open_lake_files(settings)
    con = connect()
    try:
        files = {f"{t.database}.{t.name}": _create_view(con, lake, t) for t in tables.values()}
        if any(db == settings.catalog_database for db, _ in tables):
            con.execute(f"USE {_q(settings.catalog_database)}")
    except BaseException:
        con.close()
        raise
    return PreparedQuery(con, transpiled, tables, files)


def run_query(
    settings: Settings,
    sql: str,
    *,
    reference_time: datetime | None = None,
    glue: Any = None,
    execute: bool = True,
    params: Sequence[Any] = (),
) -> QueryResult:
    """Resolve, transpile and (unless ``execute`` is False, for ``--explain``) run one Athena query, its
    ``?`` placeholders bound to ``params`` in order."""
    if not execute:
        transpiled, tables = translate(settings, sql, reference_time=reference_time, glue=glue)
        return QueryResult([], [], transpiled, tables, {})
    prepared = prepare(settings, sql, reference_time=reference_time, glue=glue)
    try:
        columns, rows = prepared.execute(params)
    finally:
        prepared.close()
    return QueryResult(columns, rows, prepared.transpiled, prepared.tables, prepared.files)
