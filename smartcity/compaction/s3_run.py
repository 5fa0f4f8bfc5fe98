"""Compaction of an S3 lake whose readers find partitions through the Glue Data Catalog.

The same plan as on a local lake (``plan.py``); a different swap. Per partition, a record
``<checkpoint>/compaction/<table>/dt=D/hour=H.json`` holds the *current* version (the compacted prefix the
catalog points at, none before the first compaction), the *attempt* under way and the *garbage* (files a
swap superseded, with the time of that swap):

1. *planned*: the attempt names its inputs (lake-relative keys) and outputs before anything is written;
2. *written*: the outputs are in ``<lake>/_compacted/<table>/dt=D/hour=H/<version>/``, a prefix no reader
   and no crawler looks at, rows checked against the inputs;
3. *swapped*: one ``UpdatePartition`` points the catalog partition at that prefix
   (``catalog_swap.point_partition``); the inputs become garbage, the version becomes current;
4. a later run deletes garbage older than the grace period, once the catalog points at the current
   version: a query that listed the old files before the swap can still read them meanwhile.

A rerun resumes an attempt: if the catalog already points at it, it records the swap; otherwise it writes
the same outputs again (same inputs, same order, same names) and swaps. Before swapping it lists the
partition again: a file the stream published there since the plan defers the partition to the next run
(the new prefix would not hold it). docs/compaction.md states the guarantee and its limits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcity.catalog.crawler import glue_client, registered_partitions
from smartcity.catalog.exclusions import is_hidden
from smartcity.catalog.lake_files import LakeFiles, open_lake_files
from smartcity.catalog.tables import LAKE_TABLES
from smartcity.compaction.catalog_swap import partition_location, point_partition
from smartcity.compaction.committed_state import committed_version
from smartcity.compaction.merge import write_merged
from smartcity.compaction.plan import Compaction, DataFile, Partition, plan_compactions
from smartcity.compaction.run import HOURLY_TABLES, Outcome
from smartcity.config import Settings
from smartcity.stream.state_version import StateVersion

# Compacted versions live outside every table folder: no crawler target and no S3 event notification of
# the template covers this prefix, and the leading "_" keeps it out of lake-wide listings.
COMPACTED_ROOT = "_compacted"
RECORDS_DIR = "compaction"
# A run lists the partitions (and records) of the days this far back from the watermark, and no older:
# two days of late rows and of a stopped job, with the listing cost of three days, not of the whole lake.
DEFAULT_LOOKBACK = timedelta(hours=48)
Hook = Callable[[str, str], None]  # (phase, partition path)


@dataclass
class Attempt:
    """A compaction under way: its version (the newest input step), inputs and output names."""

    version: str
    inputs: list[str]
    outputs: list[str]
    status: str = "planned"


@dataclass
class Record:
    """What the compaction knows of one partition, persisted between runs."""

    current: str = ""  # the version the catalog points at; "" while it points at the table folder
    attempt: Attempt | None = None
    garbage: list[dict[str, Any]] = field(default_factory=list)  # {"paths": [...], "since": ISO time}

    def to_json(self) -> str:
        attempt = self.attempt.__dict__ if self.attempt else None
        return json.dumps({"current": self.current, "attempt": attempt, "garbage": self.garbage})

    @classmethod
    def from_json(cls, text: str) -> Record:
        d = json.loads(text)
        attempt = Attempt(**d["attempt"]) if d.get("attempt") else None
        return cls(d.get("current", ""), attempt, list(d.get("garbage", [])))


@dataclass(frozen=True)
class Collected:
    """Superseded files deleted after the grace period."""

    path: str
    files_deleted: int


def version_dir(partition_path: str, version: str) -> str:
    """The lake-relative folder of one compacted version of a partition."""
    return f"{COMPACTED_ROOT}/{partition_path}/{version}"


def _step(name: str) -> str | None:
    return DataFile(name, 0).step


class CatalogCompactor:
    """Compacts the closed hourly partitions of ``lake`` and swaps them in the catalog ``database``."""

    def __init__(
        self,
        lake: LakeFiles,
        checkpoint: LakeFiles,
        glue: Any,
        database: str,
        *,
        grace: timedelta,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        hook: Hook | None = None,
    ) -> None:
        self.lake = lake
        self.checkpoint = checkpoint
        self.glue = glue
        self.database = database
        self.grace = grace
        self.now = now
        self.hook = hook or (lambda phase, path: None)
        self._table_names = {t.path: t.name for t in LAKE_TABLES}

    # ------------------------------------------------------------------ records
    def _record_path(self, partition_path: str) -> str:
        return self.checkpoint.fs_path(f"{RECORDS_DIR}/{partition_path}.json")

    def record(self, partition_path: str) -> Record:
        try:
            with self.lake.fs.open_input_stream(self._record_path(partition_path)) as f:
                return Record.from_json(f.read().decode())
        except FileNotFoundError:
            return Record()

    def _save(self, partition_path: str, record: Record) -> None:
        """One PUT on S3 (a whole object or nothing), a whole-file write locally."""
        path = self._record_path(partition_path)
        if self.lake.is_local:  # S3 needs no folder (and would get an empty marker object)
            self.lake.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with self.lake.fs.open_output_stream(path) as f:
            f.write(record.to_json().encode())

    def recorded_partitions(self, days: list[str]) -> list[str]:
        """Partition paths of those days that have a record (compacted once, or an attempt under way)."""
        out: list[str] = []
        for table in HOURLY_TABLES:
            for day in days:
                root = self.checkpoint.fs_path(f"{RECORDS_DIR}/{table}/dt={day}")
                out += [
                    f"{table}/dt={day}/{f.relative.removesuffix('.json')}"
                    for f in self.lake.list_files(root)
                    if f.relative.endswith(".json")
                ]
        return sorted(out)

    def days(self, watermark: datetime | None, lookback: timedelta) -> list[str]:
        """The ``dt`` values a run looks at: from ``lookback`` before the watermark to the watermark's day.
        Listing only these keeps a run's requests bounded however old the lake grows."""
        if watermark is None:
            return []
        first = (watermark - lookback).date()
        return [str(first + timedelta(days=d)) for d in range((watermark.date() - first).days + 1)]

    # ------------------------------------------------------------------ the lake as the planner sees it
    def _root_files(self, table: str, days: list[str]) -> dict[tuple[str, str], dict[str, int]]:
        """Per (dt, hour) of those days: the Parquet files directly in the partition folder, with sizes."""
        out: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for day in days:
            for f in self.lake.list_files(self.lake.fs_path(f"{table}/dt={day}")):
                parts = f.relative.split("/")
                if len(parts) == 2 and parts[1].endswith(".parquet") and not is_hidden(f.relative):
                    out[(day, parts[0].removeprefix("hour="))][parts[1]] = f.size
        return out

    def _version_files(self, partition_path: str, version: str) -> dict[str, int]:
        folder = self.lake.fs_path(version_dir(partition_path, version))
        return {f.relative: f.size for f in self.lake.list_files(folder) if f.relative.endswith(".parquet")}

    def _newcomers(self, partition_path: str, current: str, known: set[str]) -> list[str]:
        """Files in the partition folder that are newer than the current version and not in ``known``."""
        folder = self.lake.fs_path(partition_path)
        return sorted(
            f.relative
            for f in self.lake.list_files(folder)
            if "/" not in f.relative
            and f.relative.endswith(".parquet")
            and not is_hidden(f.relative)
            and f.relative not in known
            and (not current or (_step(f.relative) or "") > current)
        )

    def partitions(self, days: list[str]) -> tuple[list[Partition], dict[str, dict[str, str]]]:
        """Every catalogued hourly partition as the catalog's readers see it (current version plus the files
        the stream added after it), and for each one the lake-relative key of every file name."""
        partitions: list[Partition] = []
        keys: dict[str, dict[str, str]] = {}
        for table in HOURLY_TABLES:
            registered = self._registered(table)
            for (dt, hour), root in sorted(self._root_files(table, days).items()):
                if (dt, hour) not in registered:
                    continue  # the crawler has not catalogued it yet: no reader sees it
                path = f"{table}/dt={dt}/hour={hour}"
                current = self.record(path).current
                names = {n: f"{path}/{n}" for n in root if not current or (_step(n) or "") > current}
                sizes = {n: root[n] for n in names}
                if current:
                    for n, size in self._version_files(path, current).items():
                        names[n] = f"{version_dir(path, current)}/{n}"
                        sizes[n] = size
                files = tuple(DataFile(n, s) for n, s in sorted(sizes.items()))
                partitions.append(Partition(table, dt, hour, files))
                keys[path] = names
        return partitions, keys

    def committed(self) -> StateVersion | None:
        """The streaming job's newest committed state version (its watermark and step), if any."""
        return committed_version(self.lake.fs, self.checkpoint.fs_path(""))

    def plan(
        self,
        version: StateVersion | None,
        days: list[str],
        *,
        watermark_delay_s: float,
        dedup_horizon_s: float,
        target_file_bytes: int,
    ) -> list[tuple[Compaction, list[str]]]:
        """The compactions to run now, each with its inputs' lake-relative keys. A partition holding files of
        a step not committed yet waits: the new version could not include them."""
        partitions, keys = self.partitions(days)
        plans = plan_compactions(
            partitions,
            watermark=version.clock.watermark if version else None,
            committed_step=version.step.key if version else None,
            watermark_delay_s=watermark_delay_s,
            dedup_horizon_s=dedup_horizon_s,
            target_file_bytes=target_file_bytes,
        )
        out = []
        for c in plans:
            if len(c.inputs) == len(c.partition.files):
                out.append((c, [keys[c.partition.path][n] for n in c.inputs]))
        return out

    # ------------------------------------------------------------------ one partition
    def start(self, compaction: Compaction, inputs: list[str]) -> Outcome | None:
        """Record the attempt, then run it to the swap."""
        path = compaction.partition.path
        record = self.record(path)
        version = _step(compaction.outputs[0]) or ""
        record.attempt = Attempt(version, inputs, list(compaction.outputs))
        self._save(path, record)
        return self.finish(path)

    def finish(self, path: str) -> Outcome | None:
        """Run (or resume) the partition's attempt: write, check for newcomers, swap. None when deferred."""
        record = self.record(path)
        attempt = record.attempt
        if attempt is None:
            return None
        table, values = self._catalog_key(path)
        target = self.lake.uri(version_dir(path, attempt.version))
        rows = 0
        if partition_location(self.glue, self.database, table, values) != target:
            out_dir = version_dir(path, attempt.version)
            rows = write_merged(
                [self.lake.fs_path(k) for k in attempt.inputs],
                [self.lake.fs_path(f"{out_dir}/{n}") for n in attempt.outputs],
                self.lake.fs,
            )
            attempt.status = "written"
            self._save(path, record)
            self.hook("written", path)
            known = {k.rsplit("/", 1)[-1] for k in attempt.inputs}
            if self._newcomers(path, record.current, known):
                for name in attempt.outputs:
                    self._delete(f"{out_dir}/{name}")
                record.attempt = None
                self._save(path, record)
                return None
            point_partition(self.glue, self.database, table, values, target)
        record.garbage.append({"paths": attempt.inputs, "since": self.now().isoformat()})
        record.current, record.attempt = attempt.version, None
        self._save(path, record)
        self.hook("swapped", path)
        return Outcome(path, len(attempt.inputs), len(attempt.outputs), rows)

    def collect(self, path: str) -> Collected | None:
        """Delete the partition's garbage older than the grace period, once the catalog points at the
        current version (re-pointing it there first when nothing newer waits in the partition folder)."""
        record = self.record(path)
        due = [g for g in record.garbage if datetime.fromisoformat(g["since"]) + self.grace <= self.now()]
        if not due or not record.current or record.attempt is not None:
            return None
        table, values = self._catalog_key(path)
        target = self.lake.uri(version_dir(path, record.current))
        if partition_location(self.glue, self.database, table, values) != target:
            if self._newcomers(path, record.current, set()):
                return None  # the catalog points elsewhere and holds rows the version lacks: keep all
            point_partition(self.glue, self.database, table, values, target)
        deleted = 0
        for entry in due:
            for key in entry["paths"]:
                deleted += self._delete(key)
        record.garbage = [g for g in record.garbage if g not in due]
        self._save(path, record)
        return Collected(path, deleted)

    # ------------------------------------------------------------------ helpers
    def _registered(self, table: str) -> set[tuple[str, ...]]:
        """The partitions the catalog lists for a lake table (none while the table is not catalogued)."""
        try:
            return set(registered_partitions(self.glue, self.database, self._table_names[table]))
        except self.glue.exceptions.EntityNotFoundException:
            return set()

    def _catalog_key(self, path: str) -> tuple[str, list[str]]:
        table, dt, hour = path.rsplit("/", 2)
        return self._table_names[table], [dt.removeprefix("dt="), hour.removeprefix("hour=")]

    def _delete(self, key: str) -> int:
        try:
            self.lake.fs.delete_file(self.lake.fs_path(key))
            return 1
        except FileNotFoundError:
            return 0


def open_compactor(settings: Settings, *, grace: timedelta) -> CatalogCompactor:
    """The compactor of ``settings``' lake, checkpoints and catalog database."""
    lake = open_lake_files(settings)
    checkpoint = LakeFiles(lake.fs, lake.fs_path_of_uri(settings.checkpoint_uri), settings.checkpoint_uri)
    return CatalogCompactor(lake, checkpoint, glue_client(settings), settings.catalog_database, grace=grace)


def compact_catalog_lake(
    compactor: CatalogCompactor,
    *,
    watermark_delay_s: float,
    dedup_horizon_s: float,
    target_file_bytes: int,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> tuple[list[Outcome], list[Collected]]:
    """Finish what a killed run left, compact every closed partition that needs it, then delete the
    garbage whose grace period is over; only partitions of the days within ``lookback`` of the watermark."""
    version = compactor.committed()
    days = compactor.days(version.clock.watermark if version else None, lookback)
    outcomes = [o for p in compactor.recorded_partitions(days) if (o := compactor.finish(p)) is not None]
    plans = compactor.plan(
        version,
        days,
        watermark_delay_s=watermark_delay_s,
        dedup_horizon_s=dedup_horizon_s,
        target_file_bytes=target_file_bytes,
    )
    outcomes += [o for c, inputs in plans if (o := compactor.start(c, inputs)) is not None]
    collected = [c for p in compactor.recorded_partitions(days) if (c := compactor.collect(p)) is not None]
    return outcomes, collected
