"""The enrichment state in the checkpoint URI: append-only segments plus one small version file per step.

Layout under ``<checkpoint>/enrichment/``: ``segments/<kind>/v<version>/`` (Parquet written by the step)
and ``versions/<version>.json`` (the clock, the live segment list with each segment's newest expiry
value, and the cumulative counters). Writing the version file is the step's commit; a step reads the
newest version *below* its own, so a replayed step sees exactly the state its first attempt saw.
Segments leave the live list once every row in them is older than the cut-off of their kind, and their
files are deleted only when no kept version lists them any more (a replay may still need them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from smartcity.stream.lakefs import LakeFS, join_uri
from smartcity.stream.overlap import run_all
from smartcity.stream.step import STATE_COLUMNS, STATE_KINDS, Clock

KEEP_VERSIONS = 3


@dataclass
class Segment:
    kind: str
    version: int
    newest: str  # ISO instant: the largest expiry value any row in the segment can have

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "version": self.version, "newest": self.newest}


@dataclass
class StateVersion:
    version: int
    batch_id: int
    clock: Clock
    segments: list[Segment] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "batch_id": self.batch_id,
                "watermark": _iso(self.clock.watermark),
                "max_event_time": _iso(self.clock.max_event_time),
                "segments": [s.to_json() for s in self.segments],
                "totals": self.totals,
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> StateVersion:
        d = json.loads(text)
        return cls(
            version=d["version"],
            batch_id=d["batch_id"],
            clock=Clock(_dt(d["watermark"]), _dt(d["max_event_time"])),
            segments=[Segment(**s) for s in d["segments"]],
            totals=dict(d["totals"]),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StateStore:
    def __init__(
        self, spark: SparkSession, fs: LakeFS, checkpoint_uri: str, schemas: dict[str, T.StructType]
    ) -> None:
        self.spark = spark
        self.fs = fs
        self.root = join_uri(checkpoint_uri, "enrichment")
        self.schemas = schemas

    def _version_uri(self, version: int) -> str:
        return join_uri(self.root, "versions", f"{version:015d}.json")

    def segment_uri(self, kind: str, version: int) -> str:
        return join_uri(self.root, "segments", kind, f"v{version:015d}")

    def versions(self) -> list[int]:
        return [
            int(n.split(".")[0])
            for n in self.fs.list_names(join_uri(self.root, "versions"))
            if n.endswith(".json") and n[0].isdigit()
        ]

    def latest(self, below: int | None = None) -> StateVersion | None:
        """The newest committed version (strictly below ``below`` when given)."""
        candidates = [v for v in self.versions() if below is None or v < below]
        if not candidates:
            return None
        text = self.fs.read_text(self._version_uri(max(candidates)))
        return StateVersion.from_json(text) if text else None

    def frames(self, version: StateVersion | None) -> dict[str, DataFrame]:
        """Live rows per kind (unfiltered by row; the step filters by its own cut-offs)."""
        out: dict[str, DataFrame] = {}
        for kind in STATE_KINDS:
            paths = [
                self.segment_uri(kind, s.version)
                for s in (version.segments if version else [])
                if s.kind == kind
            ]
            out[kind] = (
                self.spark.read.schema(self.schemas[kind]).parquet(*paths) if paths else self.empty(kind)
            )
        return out

    def empty(self, kind: str) -> DataFrame:
        """No rows of ``kind``: a kind without segments, or a step's segment known to be empty."""
        # limit(0): an empty relation the optimizer can see (a createDataFrame([]) is an opaque RDD whose
        # jobs still run), so plans over it are pruned.
        return self.spark.createDataFrame([], self.schemas[kind]).limit(0)

    def write_segments(self, version: int, segments: dict[str, DataFrame]) -> dict[str, DataFrame]:
        """Write the step's new rows; return them read back (so later work reuses the written files)."""

        def write(kind: str, df: DataFrame) -> str:
            uri = self.segment_uri(kind, version)
            df.select(*STATE_COLUMNS[kind]).coalesce(1).write.mode("overwrite").parquet(uri)
            return uri

        uris = run_all([partial(write, kind, df) for kind, df in segments.items()])
        return {
            kind: self.spark.read.schema(self.schemas[kind]).parquet(uri)
            for kind, uri in zip(segments, uris, strict=True)
        }

    def commit(self, state: StateVersion) -> None:
        self.fs.write_text(self._version_uri(state.version), state.to_json())

    def collect_garbage(self) -> None:
        """Delete versions beyond the newest few and segments no kept version lists."""
        versions = sorted(self.versions())
        keep = versions[-KEEP_VERSIONS:]
        for v in versions[:-KEEP_VERSIONS]:
            self.fs.delete(self._version_uri(v), recursive=False)
        referenced: set[tuple[str, int]] = set()
        oldest_kept = min(keep) if keep else 0
        for v in keep:
            text = self.fs.read_text(self._version_uri(v))
            if text:
                referenced |= {(s.kind, s.version) for s in StateVersion.from_json(text).segments}
        for kind in STATE_KINDS:
            for name in self.fs.list_names(join_uri(self.root, "segments", kind)):
                if not name.startswith("v"):
                    continue
                seg_version = int(name[1:])
                # Segments of steps newer than every kept version belong to an in-flight step: leave them.
                if (kind, seg_version) not in referenced and seg_version < oldest_kept:
                    self.fs.delete(join_uri(self.root, "segments", kind, name))


def state_schemas(raw_schemas: dict[str, T.StructType]) -> dict[str, T.StructType]:
    """Schema per state kind, taken from the raw tables' schemas (so the contract types flow through)."""
    by_kind = {"vehicle": "vehicle", "gps": "gps", "weather": "weather", "emergency": "emergency"}
    out: dict[str, T.StructType] = {}
    for kind, stream in by_kind.items():
        fields = {f.name: f for f in raw_schemas[stream].fields}
        out[kind] = T.StructType([T.StructField(c, fields[c].dataType, True) for c in STATE_COLUMNS[kind]])
    out["late_ids"] = T.StructType(
        [
            T.StructField("id", T.StringType(), True),
            T.StructField("event_time", T.TimestampType(), True),
            T.StructField("keep_until", T.TimestampType(), True),
        ]
    )
    return out
