"""Stage-by-stage reconciliation: every message the simulator had acknowledged is accounted for.

Counts are taken the way Athena and the crawlers read the lake: by listing the Parquet files under each
table prefix (files and folders whose names start with ``_`` or ``.`` are hidden, as in Hive/Athena),
never through Spark's ``_spark_metadata``. So a file left behind by a failed micro-batch would show up
here as a mismatch instead of hiding behind Spark's own commit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import psycopg
import pyarrow.dataset as ds

from smartcity.catalog.lake_files import LakeFiles, open_lake_files
from smartcity.config import Settings, Stream
from smartcity.lake_layout import ENRICHED_TABLE, QUARANTINE_TABLE, raw_table

FACT_TABLE = "fact_vehicle_telemetry"


@dataclass(frozen=True)
class Check:
    """One line of the report: ``left == right`` must hold."""

    stage: str
    left_label: str
    left: int
    right_label: str
    right: int

    @property
    def ok(self) -> bool:
        return self.left == self.right


@dataclass
class Reconciliation:
    checks: list[Check] = field(default_factory=list)
    quarantine_reasons: dict[tuple[str, str], int] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def visible_files(lake: LakeFiles, table: str) -> list[str]:
    """Parquet files under a table prefix that a listing reader (Athena, crawler, DuckDB) would read."""
    root = lake.fs_path(table)
    out = []
    for f in lake.list_files(root):
        parts = f.relative.split("/")
        if any(p.startswith(("_", ".")) for p in parts):
            continue
        if f.relative.endswith(".parquet"):
            out.append(f.fs_path)
    return sorted(out)


def query_table(lake: LakeFiles, table: str, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` over the table's visible files, exposed to DuckDB as ``t`` (Hive partitions included)."""
    files = visible_files(lake, table)
    if not files:
        return []
    dataset = ds.dataset(files, filesystem=lake.fs, format="parquet", partitioning="hive")
    con = duckdb.connect()
    try:
        con.register("t", dataset)
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _count(lake: LakeFiles, table: str, expr: str = "count(*)") -> int:
    rows = query_table(lake, table, f"SELECT {expr} FROM t")
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def reconcile(
    settings: Settings,
    manifests: Iterable[dict[str, Any]],
    stream_totals: dict[str, int],
    *,
    warehouse: bool = True,
) -> Reconciliation:
    """Build the report from the simulator manifests, the lake, the job's totals and the warehouse."""
    lake = open_lake_files(settings)
    report = Reconciliation()
    acknowledged: dict[str, int] = {}
    distinct_ids: dict[str, int] = {}
    for manifest in manifests:
        for topic, t in manifest["topics"].items():
            acknowledged[topic] = acknowledged.get(topic, 0) + int(t["acknowledged"])
            distinct_ids[topic] = distinct_ids.get(topic, 0) + int(t["distinct_valid_ids"])

    quarantined = dict(query_table(lake, QUARANTINE_TABLE, "SELECT topic, count(*) FROM t GROUP BY topic"))
    for stream in Stream:
        topic = settings.topics.for_stream(stream)
        raw = _count(lake, raw_table(stream))
        report.checks.append(
            Check(
                f"ingest {topic}",
                "produced (acknowledged)",
                acknowledged.get(topic, 0),
                "raw + quarantined",
                raw + int(quarantined.get(topic, 0)),
            )
        )

    vehicle_topic = settings.topics.for_stream(Stream.VEHICLE)
    raw_distinct = _count(lake, raw_table(Stream.VEHICLE), "count(DISTINCT id)")
    report.checks.append(
        Check(
            "distinct vehicle ids",
            "manifest distinct valid",
            distinct_ids.get(vehicle_topic, 0),
            "raw distinct ids",
            raw_distinct,
        )
    )
    enriched = _count(lake, ENRICHED_TABLE)
    enriched_distinct = _count(lake, ENRICHED_TABLE, "count(DISTINCT event_id)")
    late = int(stream_totals.get("vehicle_late_distinct", 0))
    report.checks.append(
        Check(
            "enrichment",
            "distinct valid vehicle events",
            raw_distinct,
            f"enriched ({enriched}) + late ({late})",
            enriched + late,
        )
    )
    report.checks.append(
        Check(
            "enriched unique",
            "enriched rows",
            enriched,
            "distinct event ids",
            enriched_distinct,
        )
    )
    if warehouse:
        with psycopg.connect(settings.warehouse_dsn) as conn:
            row = conn.execute(f"SELECT count(*), count(DISTINCT event_id) FROM {FACT_TABLE}").fetchone()
        fact_rows = int(row[0]) if row else 0
        report.checks.append(Check("warehouse", "enriched rows", enriched, "fact rows", fact_rows))

    for topic, reason, n in query_table(
        lake,
        QUARANTINE_TABLE,
        "SELECT topic, split_part(error, ':', 1) AS reason, count(*) FROM t GROUP BY 1, 2 ORDER BY 1, 2",
    ):
        report.quarantine_reasons[(str(topic), str(reason))] = int(n)
    return report
