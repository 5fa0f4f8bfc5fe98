"""Benchmark: ``smartcity load`` of 1M enriched rows into PostgreSQL beside a plain COPY of the same rows.

The target: the loader (catalog listing, Spark read + transform, COPY into staging, MERGE into the
fact table, ledger) reaches at least half the rows/s of a plain ``COPY`` of the same rows into a table
of the fact's shape (same columns, primary key and indexes), measured in the same run on the same server.
The plain COPY gets its CSV pre-rendered in memory, so it measures PostgreSQL's ingest alone.

Run: ``.venv/bin/python bench/bench_load.py [--rows 1000000] [--files 8]``. It starts its own PostgreSQL and
moto (the local stack's components) on free ports in a temporary directory and stops them at the end.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testdata/ is at the repository root

from smartcity.catalog.crawler import crawl
from smartcity.config import Settings
from smartcity.local.moto_server import MotoServer
from smartcity.local.postgres import PostgresServer
from smartcity.local.process import free_port
from smartcity.spark import local_session
from smartcity.warehouse.loader import SOURCES, run_load
from smartcity.warehouse.migrate import migrate
from smartcity.warehouse.postgres import PostgresSession
from testdata import load_sources as syn


def write_lake(settings: Settings, rows: int, files: int) -> Path:
    root = Path(settings.lake_uri.removeprefix("file://")) / "enriched/vehicle_enriched"
    start = datetime(2026, 5, 1, 0, tzinfo=UTC)
    per = rows // files
    for i in range(files):
        n = per if i < files - 1 else rows - per * (files - 1)
        hour = start + timedelta(hours=i)
        syn.write_hour(syn.enriched_rows(n, hour, seed=100 + i, devices=2000), root, hour)
    return root


def plain_copy(dsn: str, lake_table: Path) -> tuple[int, float]:
    """COPY the same rows, as CSV rendered beforehand, into a table shaped like the fact."""
    table = ds.dataset(lake_table, format="parquet", partitioning="hive").to_table()
    table = table.drop_columns([c for c in ("dt", "hour") if c in table.column_names])
    hours = pc.floor_temporal(table["event_time"], unit="hour")
    table = table.add_column(table.column_names.index("event_time") + 1, "event_hour", hours)
    table = table.append_column("load_id", pa.array([0] * table.num_rows, pa.int64()))
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    data = buf.getvalue()
    cols = ", ".join(table.column_names)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_plain_copy")
        conn.execute("CREATE TABLE bench_plain_copy (LIKE fact_vehicle_telemetry INCLUDING ALL)")
        t0 = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(f"COPY bench_plain_copy ({cols}) FROM STDIN (FORMAT csv)") as cp,
        ):
            for i in range(0, len(data), 1 << 20):
                cp.write(data[i : i + (1 << 20)])
        seconds = time.perf_counter() - t0
        count = conn.execute("SELECT count(*) FROM bench_plain_copy").fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE bench_plain_copy")
    return int(count), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-load-"))
    home.chmod(0o755)
    settings = Settings(
        profile="local",
        local={"home": home, "postgres_port": free_port(), "moto_port": free_port()},  # type: ignore[arg-type]
    )
    pg, moto = PostgresServer(settings), MotoServer(settings)
    pg.start()
    moto.start()
    try:
        with PostgresSession.open(settings.warehouse_dsn) as session:
            migrate(session, "postgres")
        t0 = time.perf_counter()
        lake_table = write_lake(settings, args.rows, args.files)
        crawl(settings, ["vehicle_enriched"])
        print(
            f"lake: {args.rows} enriched rows in {args.files} files written and crawled in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        spark = local_session("bench-load", extra_conf={"spark.ui.showConsoleProgress": "false"})
        spark.range(1).count()  # JVM start-up is not part of a load

        copied, copy_s = plain_copy(settings.warehouse_dsn, lake_table)
        report = run_load(settings, spark=spark, sources=(SOURCES[0],))
        print("\n".join(report.lines()))
        assert report.rows_inserted == copied == args.rows, (report.rows_inserted, copied)

        copy_rate = copied / copy_s
        load_rate = report.rows_inserted / report.duration_s
        print(f"plain COPY : {copied} rows in {copy_s:.2f} s = {copy_rate:,.0f} rows/s")
        print(
            f"smartcity load: {report.rows_inserted} rows in {report.duration_s:.2f} s "
            f"= {load_rate:,.0f} rows/s"
        )
        print(f"ratio load/COPY = {load_rate / copy_rate:.2f} (target >= 0.50)")
        spark.stop()
    finally:
        moto.stop()
        pg.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
