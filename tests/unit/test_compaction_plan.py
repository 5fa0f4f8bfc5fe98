"""The compaction plan is a pure function of a listing and the job's clock: tested without files."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from smartcity.compaction.plan import DataFile, Partition, plan_compactions
from smartcity.stream.stepid import StepId

pytestmark = pytest.mark.unit

DELAY, HORIZON = 20.0, 600.0
MB = 1024 * 1024


def step_file(batch: int, k: int = 0, size: int = MB, flush: bool = False) -> DataFile:
    return DataFile(f"part-{StepId(batch, flush).key}-{k}.snappy.parquet", size)


def hour(h: int, *files: DataFile, table: str = "raw/vehicle") -> Partition:
    return Partition(table, "2025-06-01", f"{h:02d}", files)


def plan(partitions, watermark: datetime, committed: int = 100, target: int = 128 * MB):
    return plan_compactions(
        partitions,
        watermark=watermark,
        committed_step=StepId(committed).key,
        watermark_delay_s=DELAY,
        dedup_horizon_s=HORIZON,
        target_file_bytes=target,
    )


def at(h: int, seconds: float = 0) -> datetime:
    return datetime(2025, 6, 1, h, tzinfo=UTC) + timedelta(seconds=seconds)


def test_a_partition_closes_when_its_end_plus_delay_plus_horizon_is_past_the_watermark():
    p = hour(8, step_file(1), step_file(2))
    # Hour 08 ends at 09:00; closed once 09:00 + 20 s + 600 s <= the watermark.
    assert plan([p], at(9, DELAY + HORIZON - 1)) == []
    (c,) = plan([p], at(9, DELAY + HORIZON))
    assert c.partition == p and c.inputs == (step_file(1).name, step_file(2).name)


def test_only_files_of_committed_steps_are_inputs_and_others_stay():
    p = hour(8, step_file(5), step_file(7), step_file(8), step_file(9, flush=False))
    (c,) = plan([p], at(12), committed=8)
    assert c.inputs == tuple(step_file(b).name for b in (5, 7, 8))
    assert c.outputs == (f"compacted-{StepId(8).key}-0.snappy.parquet",)


def test_a_flush_step_sorts_after_its_batch():
    flush = step_file(8, flush=True)
    (c,) = plan([hour(8, flush, step_file(8))], at(12), committed=9)
    assert c.inputs == (step_file(8).name, flush.name)


def test_nothing_to_do_without_a_committed_version_or_with_a_single_file():
    p = hour(8, step_file(1), step_file(2))
    assert (
        plan_compactions(
            [p],
            watermark=None,
            committed_step=None,
            watermark_delay_s=DELAY,
            dedup_horizon_s=HORIZON,
            target_file_bytes=MB,
        )
        == []
    )
    assert plan([hour(8, step_file(1))], at(12)) == []


def test_earlier_outputs_are_merged_again_with_late_files_but_never_alone():
    done = DataFile(f"compacted-{StepId(40).key}-0.snappy.parquet", 50 * MB)
    assert plan([hour(8, done)], at(12)) == []
    two = DataFile(f"compacted-{StepId(40).key}-1.snappy.parquet", 50 * MB)
    assert plan([hour(8, done, two)], at(12)) == []  # a previous multi-file result is left as it is
    (c,) = plan([hour(8, done, step_file(60))], at(12))
    assert c.inputs == (done.name, step_file(60).name)  # oldest rows first
    assert c.outputs == (f"compacted-{StepId(60).key}-0.snappy.parquet",)


def test_outputs_are_sized_by_the_target():
    files = [step_file(b, size=30 * MB) for b in range(1, 11)]  # 300 MB
    (c,) = plan([hour(8, *files)], at(12), target=128 * MB)
    assert len(c.outputs) == 3 and len(set(c.outputs)) == 3


def test_partitions_come_in_path_order_across_tables():
    a = hour(9, step_file(1), step_file(2), table="raw/gps")
    b = hour(8, step_file(1), step_file(2), table="raw/vehicle")
    e = hour(8, step_file(1), step_file(2), table="enriched/vehicle_enriched")
    assert [c.partition.table for c in plan([b, a, e], at(12))] == [
        "enriched/vehicle_enriched",
        "raw/gps",
        "raw/vehicle",
    ]


def test_compaction_imports_neither_spark_nor_pandas() -> None:
    """Compaction reads the committed state version (``smartcity.stream.state_version``) without loading
    the streaming job's Spark code: its command and job start in a fraction of a second."""
    probe = (
        "import sys, smartcity.compaction.run, smartcity.compaction.s3_run\n"
        "print(sorted(m for m in ('pyspark', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
