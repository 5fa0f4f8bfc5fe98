"""Faults around the streaming job: a checkpoint that is another job's, or that cannot be read.

The job must stop with one clear line, never start again from the first Kafka offset (which would
publish everything twice) or write into another job's lake.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from smartcity.checkpoint_owner import OWNER_FILE, CheckpointError, check_owner
from smartcity.stream.hadoop_fs import HadoopFS

pytestmark = pytest.mark.integration

TOPICS = ["gps_data", "vehicle_data"]


def test_the_first_start_claims_the_checkpoint_and_the_same_job_is_accepted_again(spark, tmp_path):
    fs = HadoopFS(spark)
    checkpoint, lake = (tmp_path / "checkpoint").as_uri(), (tmp_path / "lake").as_uri()
    check_owner(fs, checkpoint, lake_uri=lake, topics=TOPICS)
    owner = json.loads((tmp_path / "checkpoint" / OWNER_FILE).read_text())
    assert owner == {"lake_uri": lake, "topics": TOPICS}
    check_owner(fs, checkpoint, lake_uri=lake + "/", topics=reversed(TOPICS))  # same job, other spelling


@pytest.mark.parametrize(
    ("lake", "topics", "message"),
    [
        ("other-lake", TOPICS, "belongs to another job (lake "),
        ("lake", ["vehicle_data"], "belongs to another job (lake "),
    ],
)
def test_another_jobs_checkpoint_stops_the_job(spark, tmp_path, lake, topics, message):
    fs = HadoopFS(spark)
    checkpoint = (tmp_path / "checkpoint").as_uri()
    check_owner(fs, checkpoint, lake_uri=(tmp_path / "lake").as_uri(), topics=TOPICS)
    with pytest.raises(CheckpointError, match="give each job its own checkpoint URI") as caught:
        check_owner(fs, checkpoint, lake_uri=(tmp_path / lake).as_uri(), topics=topics)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"lake_uri": "x"}), json.dumps([1])])
def test_an_unreadable_owner_file_stops_the_job(spark, tmp_path, content):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / OWNER_FILE).write_text(content)
    with pytest.raises(CheckpointError, match=re.escape(f"has an unreadable {OWNER_FILE}")):
        check_owner(HadoopFS(spark), (tmp_path / "checkpoint").as_uri(), lake_uri="file:///l", topics=TOPICS)


def test_a_checkpoint_path_that_is_a_file_stops_the_job(spark, tmp_path):
    (tmp_path / "checkpoint").write_text("not a directory")
    with pytest.raises(CheckpointError, match=r"cannot be read|cannot be claimed"):
        check_owner(HadoopFS(spark), (tmp_path / "checkpoint").as_uri(), lake_uri="file:///l", topics=TOPICS)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes through mode 000 (CAP_DAC_OVERRIDE)")
def test_a_checkpoint_folder_without_permissions_stops_the_job(spark, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    check_owner(HadoopFS(spark), checkpoint.as_uri(), lake_uri="file:///l", topics=TOPICS)
    checkpoint.chmod(0)
    try:
        with pytest.raises(CheckpointError, match=r"cannot be read|cannot be claimed") as caught:
            check_owner(HadoopFS(spark), checkpoint.as_uri(), lake_uri="file:///l", topics=TOPICS)
    finally:
        checkpoint.chmod(0o755)
    assert "\n" not in str(caught.value)


def test_an_owner_file_that_cannot_be_opened_stops_the_job(spark, tmp_path):
    """Unreadable even for root: the owner file's name is taken by a folder."""
    (tmp_path / "checkpoint" / OWNER_FILE).mkdir(parents=True)
    with pytest.raises(CheckpointError, match=r"cannot be read: java.io.\w+Exception: .*directory") as caught:
        check_owner(HadoopFS(spark), (tmp_path / "checkpoint").as_uri(), lake_uri="file:///l", topics=TOPICS)
    assert "\n" not in str(caught.value)


@pytest.mark.timeout(900)
def test_smartcity_stream_refuses_another_jobs_checkpoint_in_one_line(stack, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / OWNER_FILE).write_text(json.dumps({"lake_uri": "s3://elsewhere/lake", "topics": TOPICS}))
    env = dict(
        os.environ,
        SMARTCITY_LAKE_URI=(tmp_path / "lake").as_uri(),
        SMARTCITY_CHECKPOINT_URI=checkpoint.as_uri(),
        SMARTCITY_LOCAL__HOME=str(tmp_path / "home"),
        # A broker that answers: the command checks Kafka before it starts the job.
        SMARTCITY_KAFKA__BOOTSTRAP_SERVERS=stack.settings.kafka.bootstrap_servers,
    )
    done = subprocess.run(
        [sys.executable, "-m", "smartcity.cli", "stream", "--available-now"],
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("smartcity: error: checkpoint ") and "belongs to another job" in last, last
    assert not (tmp_path / "lake").exists(), "nothing may be written to the lake"
