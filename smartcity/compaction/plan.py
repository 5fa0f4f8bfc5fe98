"""Which partitions to compact and which files go in: a pure function of a listing and the job's clock.

A partition ``dt``/``hour`` (event time, UTC) is *closed* when no on-time row can still reach it: its end
plus the watermark delay plus the de-duplication horizon is before the streaming job's committed
watermark. Only files written by committed steps are inputs (a later step may still be replayed, and a
replay deletes exactly the files its record names), together with earlier compaction outputs; any other
file stays where it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The streaming job's file names (smartcity.stream.sink): part-<step key>-<n>.snappy.parquet.
_STEP_FILE = re.compile(r"^part-(\d{15}-(?:batch|flush))-\d+\.snappy\.parquet$")
COMPACTED_PREFIX = "compacted-"
# The output file size aimed at: large enough that a closed hour of the busiest table is one or a few files.
DEFAULT_TARGET_MB = 128
# Superseded files stay this long after a swap: twice Athena's default DML query timeout (30 minutes).
DEFAULT_GRACE_MINUTES = 60
_COMPACTED_FILE = re.compile(r"^compacted-(\d{15}-(?:batch|flush))-\d+\.snappy\.parquet$")


@dataclass(frozen=True)
class DataFile:
    """One Parquet file of a partition: its name and size in bytes."""

    name: str
    size: int

    @property
    def step(self) -> str | None:
        """The key of the step that wrote it (for a compaction output: the newest step it holds)."""
        match = _STEP_FILE.match(self.name) or _COMPACTED_FILE.match(self.name)
        return match.group(1) if match else None

    @property
    def compacted(self) -> bool:
        return self.name.startswith(COMPACTED_PREFIX)


@dataclass(frozen=True)
class Partition:
    """One hourly partition of one table (``table`` is the lake path, e.g. ``raw/vehicle``)."""

    table: str
    dt: str
    hour: str
    files: tuple[DataFile, ...]

    @property
    def path(self) -> str:
        return f"{self.table}/dt={self.dt}/hour={self.hour}"

    @property
    def end(self) -> datetime:
        start = datetime.strptime(f"{self.dt} {self.hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
        return start + timedelta(hours=1)


@dataclass(frozen=True)
class Compaction:
    """What to do to one partition: merge ``inputs`` (in this order) into ``outputs`` files."""

    partition: Partition
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def closed_before(watermark: datetime, *, watermark_delay_s: float, dedup_horizon_s: float) -> datetime:
    """Partitions ending at or before this instant can no longer receive on-time rows."""
    return watermark - timedelta(seconds=watermark_delay_s + dedup_horizon_s)


def plan_compactions(
    partitions: Iterable[Partition],
    *,
    watermark: datetime | None,
    committed_step: str | None,
    watermark_delay_s: float,
    dedup_horizon_s: float,
    target_file_bytes: int,
) -> list[Compaction]:
    """The compactions to run now, in partition order: closed partitions with at least two input files, one of
    them not yet compacted.

    Inputs are the files of steps up to ``committed_step`` (the streaming job's last committed state
    version) and earlier outputs, oldest first, so the rows keep the order the job wrote them in. Outputs
    are named after the newest step they hold; their number makes each about ``target_file_bytes``.
    """
    if watermark is None or committed_step is None:
        return []
    cut = closed_before(watermark, watermark_delay_s=watermark_delay_s, dedup_horizon_s=dedup_horizon_s)
    plans: list[Compaction] = []
    for partition in sorted(partitions, key=lambda p: p.path):
        if partition.end > cut:
            continue
        inputs = sorted(
            (f for f in partition.files if f.step is not None and f.step <= committed_step),
            key=lambda f: (f.step, not f.compacted, f.name),
        )
        if len(inputs) < 2 or all(f.compacted for f in inputs):
            continue  # nothing to merge, or already merged
        newest = max(f.step for f in inputs if f.step is not None)
        count = max(1, math.ceil(sum(f.size for f in inputs) / target_file_bytes))
        outputs = tuple(f"{COMPACTED_PREFIX}{newest}-{k}.snappy.parquet" for k in range(count))
        plans.append(Compaction(partition, tuple(f.name for f in inputs), outputs))
    return plans
