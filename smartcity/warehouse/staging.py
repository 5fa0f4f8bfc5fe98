"""Get a Spark DataFrame's rows into PostgreSQL with ``COPY``.

Why not Spark's JDBC writer: it inserts row batches with prepared statements, several times slower than
COPY (the load aims at half a plain COPY's rate or better, docs/warehouse.md). Two COPY paths, both
keeping every row out of the driver's memory:
- ``render_csv`` + ``copy_rendered`` (the loader's): Spark's own CSV writer renders the rows in the JVM,
  in parallel tasks, into a scratch folder; the driver then streams the part files through
  ``COPY ... FROM STDIN`` on the loader's connection, inside its transaction, so the same rendered rows
  can go straight into a target table or into its staging table. Nothing crosses into Python workers.
- ``copy_dataframe_arrow``: each task turns its Arrow batches into CSV with pyarrow and COPYs them on its
  own connection, in its own transaction (kept for hosts where the driver cannot see the executors'
  disks; only for staging tables, which the loader truncates before and after each load).
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from pyspark.sql import DataFrame

if TYPE_CHECKING:
    import psycopg


def copy_sql(table: str, columns: list[str]) -> str:
    # CSV: pyarrow writes NULL as an empty unquoted field and an empty string as "", which is exactly how
    # PostgreSQL's CSV format tells them apart.
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"


def write_batches(dsn: str, sql: str, batches: Iterator[pa.RecordBatch]) -> int:
    """COPY the batches through one connection in one transaction; return the rows written."""
    import psycopg
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False)
    rows = 0
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, options)
            copy.write(buf.getbuffer())
            rows += batch.num_rows
    return rows  # leaving the ``with`` committed the transaction


def copy_dataframe_arrow(df: DataFrame, dsn: str, table: str) -> int:
    """COPY every row of ``df`` into ``table`` (columns by name); return the number of rows copied."""
    sql = copy_sql(table, df.columns)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        yield pa.RecordBatch.from_pydict({"rows": [write_batches(dsn, sql, batches)]})

    return int(sum(r["rows"] for r in df.mapInArrow(task, "rows long").collect()))


# RFC 4180 as PostgreSQL reads it: quotes doubled (Spark escapes with a backslash by default), NULL as an
# empty unquoted field, the empty string as "", instants as ISO-8601 with their offset (UTC: 'Z').
_CSV_OPTIONS = {
    "header": "false",
    "escape": '"',
    "quoteAll": "false",
    "nullValue": None,
    "emptyValue": '""',
    "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "lineSep": "\n",
}
COPY_CHUNK = 1 << 20  # bytes per write: large enough that round trips do not matter


@dataclass(frozen=True)
class Rendered:
    """A DataFrame rendered as PostgreSQL-ready CSV part files (no header), with its column order."""

    columns: list[str]
    parts: list[Path]


def render_csv(df: DataFrame, folder: Path) -> Rendered:
    """Let Spark's CSV writer render ``df`` into ``folder`` (parallel JVM tasks, nothing through Python).

    The rows are rendered once and then COPYed by the caller on its own connection, inside its own
    transaction: this is what lets the loader COPY a batch of new events straight into the fact table in
    the transaction that also writes the ledger (Redshift's ``COPY`` from the S3 temp dir plays the same
    part in the Glue job).
    """
    writer = df.write.mode("overwrite")
    for key, value in _CSV_OPTIONS.items():
        if value is not None:
            writer = writer.option(key, value)
    writer.csv(str(folder))
    return Rendered(list(df.columns), sorted(folder.glob("part-*")))


def copy_rendered(conn: psycopg.Connection, table: str, rendered: Rendered) -> int:
    """COPY the rendered part files into ``table`` through ``conn`` (the caller's transaction)."""
    sql = copy_sql(table, rendered.columns)
    rows = 0
    with conn.cursor() as cur:
        for path in rendered.parts:
            with cur.copy(sql) as copy, path.open("rb") as fh:
                while chunk := fh.read(COPY_CHUNK):
                    copy.write(chunk)
            rows += max(cur.rowcount, 0)
    return rows


def copy_dataframe(df: DataFrame, dsn: str, table: str, *, scratch: Path | None = None) -> int:
    """COPY every row of ``df`` into ``table`` (columns by name) in one transaction; return the row count."""
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix=f"smartcity-{table}-", dir=scratch))
    try:
        rendered = render_csv(df, folder / "rows")
        with psycopg.connect(dsn, autocommit=False) as conn:
            return copy_rendered(conn, table, rendered)  # leaving the ``with`` commits
    finally:
        shutil.rmtree(folder, ignore_errors=True)
