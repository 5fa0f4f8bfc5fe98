"""Exactly-once Parquet output as *file-listing* readers see it (DuckDB globs, Athena, Glue crawlers).

Spark's file sink hides uncommitted files behind ``_spark_metadata``, which those readers ignore, so a
failed micro-batch's files would be counted by them. So every step publishes its files itself,
idempotently per step:

1. ``begin``: if a record of this step exists (a replay after a crash), delete every file it lists and
   reuse its ingest time, so the replay writes the same rows into the same partitions;
2. Spark writes each table into a staging prefix (``<lake>/_staging/``: hidden by its ``_`` name and
   outside every table prefix; same bucket so the moves stay in-bucket);
3. the record (ingest time + final file names) is written to the checkpoint URI *before* any move;
4. each staged file is moved to a deterministic name ``part-<step key>-<n>.snappy.parquet``.

Steps 3-4 may run more than once per step, for a subset of the staged tables each time (the job
publishes the raw and quarantine tables as soon as they are written, before the enrichment finishes):
each time the record is rewritten with every file published so far plus the new ones, then those move.

A crash at any point leaves files that step 1 of the replay (or the start-up recovery for steps Spark
will not replay) removes, and a file is visible only whole (single-object moves). On S3 a move is a COPY
then a DELETE, so for a moment a file exists under both names; the staged name is outside every table
prefix, so a reader listing a table still sees each file once, under its final name
(tests/unit/test_stream_sink_s3.py crashes between the two).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from smartcity.stream.hadoop_fs import HadoopFS, join_uri
from smartcity.stream.overlap import run_all
from smartcity.stream.stepid import StepId


@dataclass(frozen=True)
class TableOutput:
    """One table's rows of a step: ``single_task`` writes them from one task without a shuffle (one file
    per partition value; for outputs the step already holds in few partitions), else one shuffle puts
    each partition value's rows in one task."""

    table: str  # path under the lake, e.g. ``raw/vehicle``
    frame: DataFrame
    partition_by: tuple[str, ...]
    single_task: bool = True
    measures: tuple[Column, ...] = ()  # aggregates observed while writing (``rows`` always is)
    columns: tuple[str, ...] | None = None  # the columns written (default: all of ``frame``)


@dataclass
class StepCommit:
    fs: HadoopFS
    lake_uri: str
    checkpoint_uri: str
    step: StepId
    ingest_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    _staged: list[tuple[str, str]] = field(default_factory=list)
    _published: list[str] = field(default_factory=list)  # final URIs, in the record
    _done: set[str] = field(default_factory=set)  # tables already published
    # Tables are staged and published from two threads (raw on a background thread, see the job).
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def record_uri(self) -> str:
        return join_uri(self.checkpoint_uri, "sink", "records", f"{self.step.key}.json")

    @property
    def staging_uri(self) -> str:
        return join_uri(self.lake_uri, "_staging", self.step.key)

    def begin(self) -> datetime:
        """Undo a previous attempt of this step and return the step's ingest time."""
        previous = self.fs.read_text(self.record_uri)
        if previous:
            record = json.loads(previous)
            for uri in record["files"]:
                self.fs.delete(uri, recursive=False)
            self.ingest_time = datetime.fromisoformat(record["ingest_time"])
        self.fs.delete(self.staging_uri)
        return self.ingest_time

    def stage_all(self, outputs: Sequence[TableOutput]) -> dict[str, dict[str, Any]]:
        """Write several tables' rows to staging, their writes overlapping (``smartcity.stream.overlap``);
        returns per table the ``rows`` written and the output's ``measures``, observed by the write."""

        def write(output: TableOutput) -> tuple[str, str, dict[str, Any]]:
            target = join_uri(self.staging_uri, output.table)
            # Names the write's Spark job in the UI and the status store (a thread-local property).
            output.frame.sparkSession.sparkContext.setJobDescription(f"{self.step.key} write {output.table}")
            frame = output.frame
            rows = frame.coalesce(1) if output.single_task else frame.repartition(*output.partition_by)
            # Observed after the shuffle: adaptive execution may replace an empty shuffle's input (and
            # an observation inside it) by an empty relation, and the observation would never report.
            observation = Observation(f"rows {output.table}")
            counted = rows.observe(observation, F.count(F.lit(1)).alias("rows"), *output.measures)
            if output.columns is not None:
                counted = counted.select(*output.columns)
            counted.write.mode("overwrite").option("compression", "snappy").partitionBy(
                *output.partition_by
            ).parquet(target)
            return output.table, target, dict(observation.get)

        staged = run_all([partial(write, output) for output in outputs])
        with self._lock:
            self._staged += [(table, target) for table, target, _ in staged]
        return {table: measured for table, _, measured in staged}

    def planned_files(self, tables: Collection[str] | None = None) -> list[tuple[str, str]]:
        """(staged file, final URI) of the staged tables not yet published (of ``tables`` if given)."""
        moves: list[tuple[str, str]] = []
        with self._lock:
            chosen = [
                (table, staged)
                for table, staged in self._staged
                if table not in self._done and (tables is None or table in tables)
            ]
        for table, staged in chosen:
            # Hadoop prints file:///x as file:/x; match on the path part, which both spellings share.
            marker = staged.split("://", 1)[-1].rstrip("/") + "/"
            for n, src in enumerate(self.fs.list_files(staged, ".parquet")):
                rel = src[src.index(marker) + len(marker) :]
                directory = rel.rsplit("/", 1)[0] if "/" in rel else ""
                name = f"part-{self.step.key}-{n:05d}.snappy.parquet"
                moves.append((src, join_uri(self.lake_uri, table, directory, name)))
        return moves

    def publish(self, tables: Collection[str] | None = None) -> list[str]:
        """Record the final names, then move the staged files there. Returns the URIs published now.

        ``tables``: publish only these staged tables (the rest later); None publishes every staged table
        not yet published and removes the staging prefix (the step's last publish).
        """
        with self._lock:  # one publish at a time: each rewrites the whole record
            moves = self.planned_files(tables)
            self._published += [dst for _, dst in moves]
            record = {
                "step": self.step.key,
                "ingest_time": self.ingest_time.isoformat(),
                "files": self._published,
            }
            self.fs.write_text(self.record_uri, json.dumps(record))
            for src, dst in moves:
                self.fs.rename(src, dst)
            self._done |= {table for table, _ in self._staged if tables is None or table in tables}
            if tables is None:
                self.fs.delete(self.staging_uri)
        return [dst for _, dst in moves]

    def rollback(self) -> None:
        """Remove what an unfinished step published (start-up recovery of steps nobody will replay)."""
        previous = self.fs.read_text(self.record_uri)
        if previous:
            for uri in json.loads(previous)["files"]:
                self.fs.delete(uri, recursive=False)
            self.fs.delete(self.record_uri, recursive=False)
        self.fs.delete(self.staging_uri)
