"""Compaction of a local lake, one partition at a time, through recorded phases.

Per partition (``Compaction``), with a record under ``<checkpoint>/compaction/`` like the stream's step
records:

1. *planned*: the record names the inputs and outputs before anything is written;
2. *staged*: a staging directory beside the lake (``_staging/compaction/...``, outside every table) gets
   the merged output files, row counts checked against the inputs, plus a hard link to every partition
   file that is not an input (files of steps not yet committed);
3. *swapped*: the staging directory and the partition directory are exchanged in one system call
   (``swap.exchange``); a file the stream published into the old directory meanwhile is linked back;
4. *done*: the old files (now in staging) are deleted.

A run killed anywhere resumes from the record: before the swap it stages again from the inputs, which
are still in place; after it, it finishes the clean-up. The result is the same files either way.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from smartcity.compaction.committed_state import committed_version
from smartcity.compaction.merge import write_merged
from smartcity.compaction.plan import Compaction, DataFile, Partition, plan_compactions
from smartcity.compaction.swap import exchange
from smartcity.config import Stream
from smartcity.lake_layout import ENRICHED_TABLE
from smartcity.stream.state_version import StateVersion

# The tables partitioned by event hour (dt/hour); quarantine is daily by ingest time (see the docs).
HOURLY_TABLES = (*(f"raw/{s.value}" for s in Stream), ENRICHED_TABLE)
Hook = Callable[[str, Compaction], None]


@dataclass(frozen=True)
class Outcome:
    """One partition compacted: files before and after, rows moved."""

    path: str
    files_in: int
    files_out: int
    rows: int


class Compactor:
    """Compacts the closed partitions of the lake under ``lake`` (a local directory)."""

    def __init__(self, lake: Path, checkpoint: Path, *, hook: Hook | None = None) -> None:
        self.lake = lake
        self.checkpoint = checkpoint
        self.hook = hook or (lambda phase, compaction: None)

    # ------------------------------------------------------------------ reading the lake and the clock
    def partitions(self) -> list[Partition]:
        out: list[Partition] = []
        for table in HOURLY_TABLES:
            for hour_dir in sorted((self.lake / table).glob("dt=*/hour=*")):
                files = tuple(
                    DataFile(f.name, f.stat().st_size)
                    for f in sorted(hour_dir.iterdir())
                    if f.is_file() and f.suffix == ".parquet" and not f.name.startswith(("_", "."))
                )
                dt = hour_dir.parent.name.removeprefix("dt=")
                out.append(Partition(table, dt, hour_dir.name.removeprefix("hour="), files))
        return out

    def committed(self) -> StateVersion | None:
        """The streaming job's newest committed state version (its watermark and step), if any."""
        return committed_version(pafs.LocalFileSystem(), str(self.checkpoint))

    def plan(
        self, *, watermark_delay_s: float, dedup_horizon_s: float, target_file_bytes: int
    ) -> list[Compaction]:
        version = self.committed()
        return plan_compactions(
            self.partitions(),
            watermark=version.clock.watermark if version else None,
            committed_step=version.step.key if version else None,
            watermark_delay_s=watermark_delay_s,
            dedup_horizon_s=dedup_horizon_s,
            target_file_bytes=target_file_bytes,
        )

    # ------------------------------------------------------------------ one partition
    def _record_path(self, partition: Partition) -> Path:
        return self.checkpoint / "compaction" / f"{partition.path}.json"

    def _staging(self, partition: Partition) -> Path:
        return self.lake / "_staging" / "compaction" / partition.path

    def _write_record(self, compaction: Compaction, status: str) -> None:
        path = self._record_path(compaction.partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        record = {"inputs": list(compaction.inputs), "outputs": list(compaction.outputs), "status": status}
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def pending(self) -> list[Compaction]:
        """Compactions a killed run left unfinished (their records are not *done*)."""
        out: list[Compaction] = []
        root = self.checkpoint / "compaction"
        for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
            record = json.loads(path.read_text())
            if record["status"] == "done":
                continue
            rel = path.relative_to(root).with_suffix("")
            hour = rel.name.removeprefix("hour=")
            dt = rel.parent.name.removeprefix("dt=")
            partition = Partition(str(rel.parent.parent), dt, hour, ())
            out.append(Compaction(partition, tuple(record["inputs"]), tuple(record["outputs"])))
        return out

    def compact(self, compaction: Compaction) -> Outcome:
        """Run (or resume) one partition's compaction to the end."""
        live = self.lake / compaction.partition.path
        staging = self._staging(compaction.partition)
        swapped = all((live / name).exists() for name in compaction.outputs)
        rows = 0
        if not swapped:
            self._write_record(compaction, "planned")
            rows = self._stage(compaction, live, staging)
            self._write_record(compaction, "staged")
            self.hook("staged", compaction)
            exchange(str(live), str(staging))
        # The stream may have published a file into the old directory while staging: keep it visible.
        kept = set(compaction.inputs)
        for old in sorted(staging.iterdir()) if staging.is_dir() else []:
            if old.name not in kept and not (live / old.name).exists() and old.suffix == ".parquet":
                os.link(old, live / old.name)
        self._write_record(compaction, "swapped")
        self.hook("swapped", compaction)
        shutil.rmtree(staging, ignore_errors=True)
        self._write_record(compaction, "done")
        return Outcome(compaction.partition.path, len(compaction.inputs), len(compaction.outputs), rows)

    def _stage(self, compaction: Compaction, live: Path, staging: Path) -> int:
        """Write the merged files to ``staging`` with links to the partition's other files; the rows."""
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        rows = write_merged(
            [str(live / name) for name in compaction.inputs],
            [str(staging / name) for name in compaction.outputs],
        )
        inputs = set(compaction.inputs)
        for other in sorted(live.iterdir()):
            if other.is_file() and other.name not in inputs:
                os.link(other, staging / other.name)
        return rows


def compact_lake(
    lake: Path,
    checkpoint: Path,
    *,
    watermark_delay_s: float,
    dedup_horizon_s: float,
    target_file_bytes: int,
    hook: Hook | None = None,
) -> list[Outcome]:
    """Finish what a killed run left, then compact every closed partition that needs it."""
    compactor = Compactor(lake, checkpoint, hook=hook)
    outcomes = [compactor.compact(c) for c in compactor.pending()]
    plans = compactor.plan(
        watermark_delay_s=watermark_delay_s,
        dedup_horizon_s=dedup_horizon_s,
        target_file_bytes=target_file_bytes,
    )
    return outcomes + [compactor.compact(c) for c in plans]
