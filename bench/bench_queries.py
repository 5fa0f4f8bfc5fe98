"""Every saved Athena query on a >= 10 M vehicle-event lake: DuckDB (local engine) beside Spark SQL.

Same Parquet files, same run. The lake is generated with pyarrow (``testdata.synthetic_lake``) and
catalogued by the local crawler into an in-process moto Glue catalog; DuckDB runs through the real
``run_query`` path (catalog resolution, Trino→DuckDB translation, views); Spark SQL runs the same Athena SQL
translated by sqlglot to Spark's dialect over temp views of the same folders. Target: each query < 2 s with
DuckDB. Prints per-query times (first run and best of the warm runs) and the Spark/DuckDB ratio.

    .venv/bin/python bench/bench_queries.py [--events 10000000] [--lake DIR] [--repeat 3] [--spark-repeat 1]

Spark's warm runs are fewer by default: its count(DISTINCT) queries take minutes each at 10 M events and the
bench holds the team's benchmark lock meanwhile; one warm run is enough for a ratio of that size.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testdata/ is at the repository root

from smartcity.catalog import LAKE_TABLES, crawl
from smartcity.config import Settings
from smartcity.query import saved_queries
from smartcity.query.engine import prepare
from smartcity.query.resolve import sqlglot_schema
from smartcity.query.transpile import transpile
from testdata.synthetic_lake import write_synthetic_lake

TARGET_S = 2.0
REFERENCE = datetime(2024, 5, 1, 12, 30)  # inside the generated day, for now()-dependent queries


def _lake(path: Path, events: int) -> None:
    marker = path / f".complete-{events}"
    if marker.exists():
        print(f"reusing lake {path} ({events:,} vehicle events)")
        return
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    # No Spark litter here: Spark itself would trust a _spark_metadata log and read only the files it lists.
    lake = write_synthetic_lake(
        path, vehicle_events=events, hours=24, devices=2_000, files_per_partition=2, litter=False
    )
    marker.write_text("ok")
    print(
        f"generated lake in {time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{k}={v:,}" for k, v in lake.rows.items())
    )


def _norm(row) -> tuple:
    """Rows of both engines on one footing: floats to 2 decimals, timestamps without zone."""
    out = []
    for v in tuple(row):
        if isinstance(v, float | Decimal):
            v = round(float(v), 2)
        elif isinstance(v, datetime):
            v = v.replace(tzinfo=None)
        out.append(v)
    return tuple(out)


def _timed(fn, repeat: int) -> tuple[float, float, object]:
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        warm.append(time.perf_counter() - t0)
    return first, min(warm) if warm else first, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--lake", type=Path, default=Path("/tmp/smartcity-bench-lake"))
    ap.add_argument("--repeat", type=int, default=3, help="warm DuckDB runs per query (best is reported)")
    ap.add_argument("--spark-repeat", type=int, default=1, help="warm Spark runs per query (best of them)")
    args = ap.parse_args()
    _lake(args.lake, args.events)
    settings = Settings(profile="local", lake_uri=args.lake.resolve().as_uri(), aws_endpoint_url="")

    from smartcity.spark import local_session

    spark = local_session(
        "bench-queries", extra_conf={"spark.sql.sources.partitionColumnTypeInference.enabled": "false"}
    )
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {settings.catalog_database}")
    for t in LAKE_TABLES:
        name = f"{settings.catalog_database}.{t.name}"
        spark.sql(f"DROP TABLE IF EXISTS {name}")
        spark.catalog.createTable(name, path=str(args.lake.resolve() / t.path), source="parquet")
        spark.sql(f"MSCK REPAIR TABLE {name}")  # the in-memory catalog does not discover partitions itself

    results = []
    with mock_aws():
        t0 = time.perf_counter()
        report = crawl(settings)
        print(f"crawl: {time.perf_counter() - t0:.2f} s, {report.changes} changes", flush=True)
        for name, q in saved_queries().items():
            t0 = time.perf_counter()
            prepared = prepare(settings, q.sql, reference_time=REFERENCE)
            setup = time.perf_counter() - t0
            d_first, d_best, (_, d_rows) = _timed(prepared.execute, args.repeat)
            prepared.close()
            spark_sql = transpile(
                q.sql,
                schema=sqlglot_schema(prepared.tables),
                database=settings.catalog_database,
                reference_time=REFERENCE,
                write="spark",
            ).duckdb_sql
            s_first, s_best, s_rows = _timed(lambda s=spark_sql: spark.sql(s).collect(), args.spark_repeat)
            same = sorted(map(_norm, d_rows)) == sorted(map(_norm, s_rows))
            results.append((name, setup, d_first, d_best, s_first, s_best, len(d_rows), same))
            print(f"  {name}: duckdb {d_best:.3f} s, spark {s_best:.3f} s", flush=True)

    print(
        f"\n{'query':<32} {'catalog':>8} {'duck 1st':>9} {'duckdb':>8} {'spark 1st':>10} {'spark':>8}"
        f" {'ratio':>7} {'rows':>6}  <2s  same-result"
    )
    for name, setup, d1, d, s1, s, rows, same in results:
        print(
            f"{name:<32} {setup:>7.3f}s {d1:>8.3f}s {d:>7.3f}s {s1:>9.3f}s {s:>7.3f}s {s / d:>6.1f}x"
            f" {rows:>6}  {'ok ' if d < TARGET_S else 'SLOW'} {'yes' if same else 'NO'}"
        )
    ratios = [r[5] / r[3] for r in results]
    print(
        f"\nDuckDB slowest warm query: {max(r[3] for r in results):.3f} s (target < {TARGET_S} s); "
        f"Spark/DuckDB ratio median {statistics.median(ratios):.1f}x, min {min(ratios):.1f}x. "
        "'catalog' = Glue resolution (in-process moto) + view creation, paid once per query."
    )
    spark.stop()
    return 0 if all(r[3] < TARGET_S for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
