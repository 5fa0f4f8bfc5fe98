"""The step's publish protocol when tables are published in two rounds (raw first, enriched later).

Each round rewrites the step's record with every file published so far *before* moving its files, so a
replay of the step (``begin``) removes what either round published; nothing is published twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartcity.stream.hadoop_fs import HadoopFS
from smartcity.stream.sink import StepCommit, TableOutput
from smartcity.stream.stepid import StepId

pytestmark = pytest.mark.unit


def _files(root: Path, table: str) -> list[Path]:
    return sorted((root / table).rglob("*.parquet"))


def test_two_rounds_are_recorded_before_they_move_and_a_replay_removes_both(spark, tmp_path):
    lake, checkpoint = tmp_path / "lake", tmp_path / "checkpoint"
    fs = HadoopFS(spark)
    commit = StepCommit(fs, lake.as_uri(), checkpoint.as_uri(), step=StepId(2))
    commit.begin()
    raw = spark.createDataFrame(
        [(1, "2025-06-01", "10"), (2, "2025-06-01", "11")], "n int, dt string, hour string"
    )
    enriched = spark.createDataFrame([(3, "2025-06-01", "10")], "n int, dt string, hour string")
    commit.stage_all([TableOutput("raw/vehicle", raw, ("dt", "hour"))])
    commit.stage_all([TableOutput("enriched/vehicle_enriched", enriched, ("dt", "hour"), single_task=False)])

    first = commit.publish(tables=["raw/vehicle"])
    assert len(first) == 2 and len(_files(lake, "raw/vehicle")) == 2
    assert _files(lake, "enriched/vehicle_enriched") == []  # still staged
    record = json.loads(fs.read_text(commit.record_uri) or "{}")
    assert record["files"] == first

    second = commit.publish()
    assert len(second) == 1 and len(_files(lake, "enriched/vehicle_enriched")) == 1
    assert json.loads(fs.read_text(commit.record_uri) or "{}")["files"] == first + second
    assert commit.publish() == []  # nothing is published twice
    assert not (lake / "_staging").exists() or not any((lake / "_staging").rglob("*.parquet"))

    # A replay of the same step (crash after publishing) starts by removing both rounds' files.
    replay = StepCommit(fs, lake.as_uri(), checkpoint.as_uri(), step=StepId(2))
    assert replay.begin() == commit.ingest_time
    assert _files(lake, "raw/vehicle") == [] and _files(lake, "enriched/vehicle_enriched") == []


def test_step_keys_sort_in_run_order_and_name_their_step():
    steps = [StepId(12, flush=True), StepId(13), StepId(12), StepId(9), StepId(13, flush=True)]
    in_run_order = [StepId(9), StepId(12), StepId(12, flush=True), StepId(13), StepId(13, flush=True)]
    assert sorted(steps) == in_run_order
    assert sorted(s.key for s in steps) == [s.key for s in in_run_order]
    assert [StepId.from_key(s.key) for s in steps] == steps
    for bad in ("12-batch", "000000000000012", "000000000000012-flushed", "x00000000000012-batch"):
        with pytest.raises(ValueError, match="not a step key"):
            StepId.from_key(bad)
