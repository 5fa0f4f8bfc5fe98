"""``smartcity load``: the incremental, idempotent load of the lake into the local warehouse (PostgreSQL).

One run, in order:
1. Take the load lock (a PostgreSQL advisory lock: one loader at a time) and check the schema is migrated.
2. For each source table, list its files through the Data Catalog and keep those the ledger lacks.
3. Read them with Spark and run the shared transformations (``smartcity.warehouse.transform``), the same
   functions the Glue job runs, first without searching for repeated event ids; Spark's CSV writer
   renders each target's rows into a scratch folder.
4. In ONE transaction: COPY each target's rows in (a batch of new events straight into the fact table;
   if its primary key refuses one, the source is rendered again with deduplication and every target goes
   through its UNLOGGED staging table and a MERGE, as dimensions always do), record the files in the
   ledger, and
   write the run's row in ``etl_load_run``. A crash before COMMIT leaves the warehouse exactly as it was
   (the staging tables are scratch, truncated by the next run); a crash after it leaves nothing to redo.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from smartcity.config import Settings
from smartcity.errors import SmartCityError
from smartcity.warehouse import ledger, merge, transform
from smartcity.warehouse.load_map import PRIMARY_SOURCE, SOURCES, Source
from smartcity.warehouse.migrate import status
from smartcity.warehouse.postgres import PostgresSession, WarehouseError, connect
from smartcity.warehouse.source import SourceFile, catalog_table, parquet_rows
from smartcity.warehouse.staging import Rendered, copy_rendered, render_csv

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Any fixed 64-bit number; it only has to differ from other advisory locks taken in this database.
LOAD_LOCK_KEY = 7_310_420_001
RUNTIME = "local"


class LoadError(SmartCityError):
    """The load failed; the warehouse was left as it was before the run."""


@dataclass
class TargetCounts:
    staged: int = 0
    inserted: int = 0
    updated: int = 0


@dataclass
class SourceCounts:
    files: int = 0
    rows_read: int = 0


@dataclass
class LoadReport:
    """What a run did. ``skipped`` = rows read that changed nothing: invalid, duplicate or already loaded."""

    load_id: int | None
    duration_s: float
    sources: dict[str, SourceCounts] = field(default_factory=dict)
    targets: dict[str, TargetCounts] = field(default_factory=dict)
    # Seconds per phase: list (catalog + ledger + footers), transform (Spark read, transformation and CSV
    # rendering of the event targets; the others are rendered meanwhile during the next phase),
    # copy+merge (COPY into the tables or their staging tables, MERGE, ledger, commit).
    phases: dict[str, float] = field(default_factory=dict)

    def _primary(self) -> tuple[SourceCounts, TargetCounts]:
        return (
            self.sources.get(PRIMARY_SOURCE.table, SourceCounts()),
            self.targets.get(PRIMARY_SOURCE.primary.table, TargetCounts()),
        )

    @property
    def rows_read(self) -> int:
        """Rows of ``vehicle_enriched`` read (the headline figures are the fact table's)."""
        return self._primary()[0].rows_read

    @property
    def rows_inserted(self) -> int:
        return self._primary()[1].inserted

    @property
    def rows_updated(self) -> int:
        return self._primary()[1].updated

    @property
    def rows_skipped(self) -> int:
        return self.rows_read - self.rows_inserted - self.rows_updated

    def lines(self) -> list[str]:
        what = f"load {self.load_id}" if self.load_id is not None else "load: nothing new in the lake"
        out = [
            f"{what} ({self.duration_s:.2f} s): {PRIMARY_SOURCE.table} -> {PRIMARY_SOURCE.primary.table}: "
            f"read {self.rows_read}, inserted {self.rows_inserted}, updated {self.rows_updated}, "
            f"skipped {self.rows_skipped}"
        ]
        if self.phases:
            out.append("  phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.phases.items()))
        for name, s in self.sources.items():
            out.append(f"  source {name}: {s.files} new file(s), {s.rows_read} rows")
        for name, t in self.targets.items():
            out.append(
                f"  table {name}: staged {t.staged}, inserted {t.inserted}, updated {t.updated}, "
                f"unchanged {t.staged - t.inserted - t.updated}"
            )
        return out


@dataclass(frozen=True)
class _Plan:
    source: Source
    location: str
    files: list[SourceFile]
    rows: dict[str, int]


_CAUSE_RE = re.compile(r"^\s*((?:\w+\.)*\w*(?:Error|Exception|Violation)): (.+)$")


def _first_line(exc: BaseException) -> str:
    """One line for the user; for a Python worker's failure, the worker's own exception line.

    Spark wraps an executor's exception in a PythonException whose first line says only that; the
    useful line ("psycopg.errors.NotNullViolation: null value in column ...") is inside the text.
    """
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    causes = [m for line in text.splitlines() if (m := _CAUSE_RE.match(line))]
    if causes and "Python worker" in text.splitlines()[0]:
        name, message = causes[-1].groups()
        return f"{name.rsplit('.', 1)[-1]}: {message}"
    return text.splitlines()[0]


def _check_migrated(conn: psycopg.Connection) -> None:
    states = status(PostgresSession(conn), "postgres")
    bad = [f"V{s.version:03d} {s.state}" for s in states if s.state != "applied"]
    if bad:
        raise LoadError(
            f"the warehouse schema is not current ({', '.join(bad)}): run 'smartcity warehouse migrate'"
        )


def _plan(settings: Settings, conn: psycopg.Connection, sources: tuple[Source, ...]) -> list[_Plan]:
    plans = []
    for source in sources:
        table = catalog_table(settings, source.table)
        todo = ledger.pending(table.files, ledger.loaded_versions(conn, source.table))
        plans.append(_Plan(source, table.location, todo, parquet_rows(settings, todo) if todo else {}))
    return plans


def _read(spark: SparkSession, plan: _Plan) -> DataFrame:
    """The plan's files as one DataFrame, each row tagged with its file's modification time (µs).

    The time comes from the file source's hidden ``_metadata`` column (the listing Spark does anyway),
    so no per-row file-name lookup is needed.
    """
    from pyspark.sql import functions as F

    df = (
        spark.read.option("mergeSchema", "true")
        .option("basePath", plan.location)
        .parquet(*[f.uri for f in plan.files])
    )
    return df.withColumn(transform.SOURCE_ORDER, F.unix_micros(F.col("_metadata.file_modification_time")))


def _render(
    spark: SparkSession,
    plan: _Plan,
    load_id: int,
    folder: Path,
    *,
    dedupe: bool,
    background: Executor,
) -> dict[merge.Target, Future[Rendered]]:
    """Run the source's transformation on the plan's files and render each target's rows as CSV.

    Event targets are rendered here, first: their COPY decides whether the source needs its deduplicated
    rendering. The other targets (dimensions, aggregates) are rendered on ``background`` meanwhile, so that
    Spark computes them while PostgreSQL ingests the events (docs/decisions/0005).
    """
    from pyspark.sql import functions as F

    # Not cached: the transformation's frames are narrow scans (see transform.latest_per_key), and
    # persisting the read did not pay (docs/decisions/0005).
    frames = plan.source.build(_read(spark, plan), dedupe)
    rendered: dict[merge.Target, Future[Rendered]] = {}
    for target in sorted(frames, key=lambda t: not t.events):
        rows = frames[target].withColumn("load_id", F.lit(load_id).cast("bigint"))
        if target.events:
            done: Future[Rendered] = Future()
            done.set_result(render_csv(rows, folder / target.table))
            rendered[target] = done
        else:
            rendered[target] = background.submit(render_csv, rows, folder / target.table)
    return rendered


def _truncate_staging(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE " + ", ".join(t.staging for t in merge.TARGETS))


def _copy_new_events(conn: psycopg.Connection, target: merge.Target, rows: Rendered) -> TargetCounts | None:
    """COPY a batch straight into an event table; ``None`` (and nothing written) if a key conflicts.

    When no key of the batch is loaded yet and none repeats within it (every new hour of events), this is
    exactly what deduplication and the MERGE would do, without searching the batch for repeated keys and
    without writing every row twice (staging, then target). The primary key refuses the COPY as soon as one
    key is already there (a late or rewritten file) or appears twice; the savepoint is rolled back.
    """
    try:
        with conn.transaction():  # a savepoint inside the load's transaction
            n = copy_rendered(conn, target.table, rows)
        return TargetCounts(staged=n, inserted=n)
    except psycopg.errors.UniqueViolation:
        return None


def _merge(conn: psycopg.Connection, target: merge.Target, rows: Rendered, load_id: int) -> TargetCounts:
    """COPY deduplicated rows into the UNLOGGED staging table, ANALYZE it (so a small batch merges through
    the key's index instead of scanning the whole table), MERGE; return what changed."""
    staged = copy_rendered(conn, target.staging, rows)
    conn.execute(f"ANALYZE {target.staging}")
    result = conn.execute(merge.postgres_merge(target, rows.columns, load_id)).fetchall()
    by_action = {str(a): int(n) for a, n in result}
    return TargetCounts(staged, by_action.get("INSERT", 0), by_action.get("UPDATE", 0))


def _apply(
    conn: psycopg.Connection,
    rendered: dict[merge.Target, Future[Rendered]],
    redo: Callable[[], dict[merge.Target, Future[Rendered]]],
    load_id: int,
) -> dict[str, TargetCounts]:
    """Bring one source's rendered targets into the warehouse inside the caller's transaction.

    ``rendered`` was built without deduplication. Its event targets are tried with a direct COPY; if any
    is refused, ``redo()`` renders the source again with deduplication and every target takes the MERGE
    path (the dimensions are merged from the deduplicated rows, so a repeated event cannot pick them).
    """
    counts: dict[str, TargetCounts] = {}
    for target, rows in rendered.items():
        if not target.events:
            counts[target.table] = _merge(conn, target, rows.result(), load_id)
            continue
        direct = _copy_new_events(conn, target, rows.result())
        if direct is None:
            return {t.table: _merge(conn, t, r.result(), load_id) for t, r in redo().items()}
        counts[target.table] = direct
    return counts


def _next_load_id(conn: psycopg.Connection) -> int:
    """The next run number; stable until a run commits (one loader at a time: the advisory lock)."""
    return int(conn.execute("SELECT COALESCE(MAX(load_id), 0) + 1 FROM etl_load_run").fetchone()[0])  # type: ignore[index]


def run_load(
    settings: Settings,
    *,
    spark: SparkSession | None = None,
    sources: tuple[Source, ...] = SOURCES,
) -> LoadReport:
    """Load every new lake file into the warehouse; raise ``LoadError`` (warehouse unchanged) on failure."""
    t0 = time.monotonic()
    started = datetime.now(UTC)
    conn = connect(settings.warehouse_dsn)
    try:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOAD_LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
            raise LoadError("another load is running against this warehouse; try again when it has finished")
        _check_migrated(conn)
        plans = _plan(settings, conn, sources)
        report = LoadReport(None, 0.0)
        report.phases["list"] = time.monotonic() - t0
        for p in plans:
            report.sources[p.source.table] = SourceCounts(len(p.files), sum(p.rows.values()))
        if not any(p.files for p in plans):
            report.duration_s = time.monotonic() - t0
            return report

        if spark is None:
            from smartcity.spark import local_session

            spark = local_session(
                "smartcity-load", extra_conf={"spark.ui.showConsoleProgress": "false"}, settings=settings
            )
        load_id = _next_load_id(conn)
        scratch = Path(tempfile.mkdtemp(prefix="smartcity-load-"))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smartcity-render")
        try:
            t_stage = time.monotonic()
            rendered = {
                p.source.table: _render(
                    spark, p, load_id, scratch / "fast" / p.source.table, dedupe=False, background=pool
                )
                for p in plans
                if p.files
            }
            report.phases["transform"] = time.monotonic() - t_stage

            t_merge = time.monotonic()
            _truncate_staging(conn)
            with conn.transaction():
                conn.execute("SET LOCAL work_mem = '256MB'")
                for p in plans:
                    if not p.files:
                        continue
                    redo = partial(
                        _render,
                        spark,
                        p,
                        load_id,
                        scratch / "dedup" / p.source.table,
                        dedupe=True,
                        background=pool,
                    )
                    report.targets.update(_apply(conn, rendered[p.source.table], redo, load_id))
                for p in plans:
                    ledger.record(conn, p.source.table, p.files, p.rows, load_id)
                report.load_id = load_id
                report.duration_s = time.monotonic() - t0
                # Last statement before COMMIT (tests hold a lock on this table to kill a load right here).
                conn.execute(
                    "INSERT INTO etl_load_run (load_id, started_at, finished_at, runtime, rows_read, "
                    "rows_inserted, rows_updated, rows_skipped) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        load_id,
                        started,
                        datetime.now(UTC),
                        RUNTIME,
                        report.rows_read,
                        report.rows_inserted,
                        report.rows_updated,
                        report.rows_skipped,
                    ),
                )
            report.phases["copy+merge"] = time.monotonic() - t_merge
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # before the scratch folder goes
            shutil.rmtree(scratch, ignore_errors=True)
        _truncate_staging(conn)
        report.duration_s = time.monotonic() - t0
        return report
    except SmartCityError:
        raise
    except psycopg.Error as exc:
        raise WarehouseError(f"load failed, warehouse unchanged: {_first_line(exc)}") from exc
    except Exception as exc:
        raise LoadError(
            f"load failed, warehouse unchanged: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    finally:
        conn.close()  # also releases the advisory lock
