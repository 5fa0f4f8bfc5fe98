"""The enrichment state in the checkpoint URI: append-only segments plus one small version file per step.

Layout under ``<checkpoint>/enrichment/``: ``segments/<step>/kind=<kind>/`` (the step's new rows of every
kind, written by one Spark job), ``versions/<step>.json`` (the clock, the live segments with each one's
newest expiry value, and the cumulative counters) and ``empty/`` (one empty Parquet file, read with every
kind so a kind's plan is the same whether it has live segments or not). Writing the version file is the
step's commit; a step reads the newest version *before* its own, so a replayed step sees exactly the
state its first attempt saw. Segments leave the live list once every row in them is older than their
kind's cut-off, and their files are deleted only when no kept version lists them (a replay may need them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartcity.stream.hadoop_fs import HadoopFS, join_uri
from smartcity.stream.state_version import SEGMENTS_DIR, STATE_DIR, VERSIONS_DIR, StateVersion, segment_folder
from smartcity.stream.step import EPOCH, EXPIRY_COLUMN, STATE_COLUMNS, STATE_KINDS
from smartcity.stream.stepid import StepId

KEEP_VERSIONS = 3


@dataclass(frozen=True)
class WrittenSegment:
    """What one step wrote: per kind, its rows as written (a Parquet read) and their count and newest
    expiry value (from the write itself)."""

    frames: dict[str, DataFrame]
    rows: dict[str, int]
    newest: dict[str, datetime]


class EnrichmentStateStore:
    """The streaming job's event-time state (the rows enrichment still needs) under the checkpoint URI."""

    def __init__(self, spark: SparkSession, fs: HadoopFS, checkpoint_uri: str, schema: T.StructType) -> None:
        self.spark = spark
        self.fs = fs
        self.checkpoint_uri = checkpoint_uri
        self.root = join_uri(checkpoint_uri, STATE_DIR)
        self._versions = join_uri(checkpoint_uri, VERSIONS_DIR)
        self.schema = schema  # smartcity.stream.step.state_schema, ``kind`` first
        self._row_schema = T.StructType([f for f in schema.fields if f.name != "kind"])
        self._empty_uri = join_uri(self.root, "empty")

    def _version_uri(self, step: StepId) -> str:
        return join_uri(self._versions, f"{step.key}.json")

    def _segment_uri(self, step_key: str, kind: str | None = None) -> str:
        return join_uri(self.checkpoint_uri, segment_folder(step_key, kind))

    def steps(self) -> list[StepId]:
        """The committed steps whose versions are kept, in order."""
        return sorted(
            StepId.from_key(n.removesuffix(".json"))
            for n in self.fs.list_names(self._versions)
            if n.endswith(".json") and n[0].isdigit()
        )

    def latest(self, before: StepId | None = None) -> StateVersion | None:
        """The newest committed version (of a step before ``before`` when given)."""
        candidates = [s for s in self.steps() if before is None or s < before]
        if not candidates:
            return None
        text = self.fs.read_text(self._version_uri(candidates[-1]))
        return StateVersion.from_json(text) if text else None

    def frames(self, version: StateVersion | None) -> dict[str, DataFrame]:
        """Per kind, the rows of its live segments (the plan filters rows by its own cut-offs)."""
        self._ensure_empty()
        out: dict[str, DataFrame] = {}
        for kind in STATE_KINDS:
            paths = [self._empty_uri] + [
                self._segment_uri(s.step, kind)
                for s in (version.segments if version else [])
                if s.kind == kind
            ]
            out[kind] = self.spark.read.schema(self._row_schema).parquet(*paths).select(*STATE_COLUMNS[kind])
        return out

    def write(self, step: StepId, segments: DataFrame | None) -> WrittenSegment:
        """Write a step's new rows of every kind in one Spark job, counting them on the way."""
        self._ensure_empty()
        if segments is None:
            return WrittenSegment(
                {kind: self._read(step, kind, exists=False) for kind in STATE_KINDS}, {}, {}
            )
        observation = Observation("state_segment")
        kind = F.col("kind")
        # Observed after the coalesce (see StepCommit.stage_all for why the observation comes last).
        measured = segments.coalesce(1).observe(
            observation,
            *[F.sum((kind == k).cast("long")).alias(f"rows_{k}") for k in STATE_KINDS],
            # As microseconds: PySpark hands an observed timestamp back as a Java object.
            *[
                F.max(F.when(kind == k, F.unix_micros(EXPIRY_COLUMN[k]))).alias(f"newest_{k}")
                for k in STATE_KINDS
            ],
        )
        uri = self._segment_uri(step.key)
        self.spark.sparkContext.setJobDescription(f"{step.key} write state")
        measured.write.mode("overwrite").partitionBy("kind").parquet(uri)
        seen = observation.get
        rows = {k: int(seen.get(f"rows_{k}") or 0) for k in STATE_KINDS}
        newest = {k: seen[f"newest_{k}"] for k in STATE_KINDS if seen.get(f"newest_{k}") is not None}
        frames = {k: self._read(step, k, exists=rows[k] > 0) for k in STATE_KINDS}
        return WrittenSegment(frames, rows, {k: EPOCH + timedelta(microseconds=v) for k, v in newest.items()})

    def _ensure_empty(self) -> None:
        if not self.fs.exists(self._empty_uri):
            empty = self.spark.createDataFrame([], self._row_schema)
            empty.coalesce(1).write.mode("overwrite").parquet(self._empty_uri)

    def _read(self, step: StepId, kind: str, *, exists: bool) -> DataFrame:
        paths = [self._empty_uri] + ([self._segment_uri(step.key, kind)] if exists else [])
        return self.spark.read.schema(self._row_schema).parquet(*paths).select(*STATE_COLUMNS[kind])

    def commit(self, state: StateVersion) -> None:
        self.fs.write_text(self._version_uri(state.step), state.to_json())

    def collect_garbage(self) -> None:
        """Delete versions beyond the newest few and segments no kept version lists."""
        steps = self.steps()
        keep = steps[-KEEP_VERSIONS:]
        for old in steps[:-KEEP_VERSIONS]:
            self.fs.delete(self._version_uri(old), recursive=False)
        referenced: set[str] = set()
        for step in keep:
            text = self.fs.read_text(self._version_uri(step))
            if text:
                referenced |= {s.step for s in StateVersion.from_json(text).segments}
        oldest_kept = keep[0].key if keep else ""
        for name in self.fs.list_names(join_uri(self.checkpoint_uri, SEGMENTS_DIR)):
            # Segments of steps newer than every kept version belong to an in-flight step: leave them.
            if name not in referenced and name < oldest_kept:
                self.fs.delete(self._segment_uri(name))
