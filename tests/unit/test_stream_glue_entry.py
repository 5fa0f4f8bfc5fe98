"""The Glue entry reads its arguments with Glue's own getResolvedOptions (awsglue3-local) into settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from smartcity.config import Stream

pytestmark = pytest.mark.unit

ENTRY = Path(__file__).resolve().parents[2] / "glue_streaming" / "job.py"


def _entry():
    spec = importlib.util.spec_from_file_location("glue_streaming_job", ENTRY)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_required_and_optional_arguments_become_settings():
    entry = _entry()
    argv = [
        "job.py",
        "--JOB_NAME",
        "smartcity-streaming",
        "--lake_uri",
        "s3://lake-bucket/lake",
        "--checkpoint_uri",
        "s3://ckpt-bucket/ckpt",
        "--bootstrap_servers",
        "boot-x.example:9098",
        "--aws_region",
        "eu-west-1",
        "--trigger_interval_s",
        "60",
        "--watermark_delay_s",
        "45",
    ]
    args = entry.parse_args(argv)
    settings, cfg = entry.build(args)
    assert settings.profile == "aws" and settings.kafka.auth == "msk_iam"
    assert settings.lake_uri == "s3://lake-bucket/lake" and settings.checkpoint_uri == "s3://ckpt-bucket/ckpt"
    assert settings.topics.for_stream(Stream.EMERGENCY) == "emergency_data"
    assert (
        cfg.trigger_interval_s == 60
        and cfg.watermark_delay_s == 45
        and cfg.max_offsets_per_trigger == 2_000_000
    )
    assert cfg.flush_on_drain is False and cfg.cloudwatch_namespace == "SmartCity/Streaming"


def test_missing_required_argument_fails():
    entry = _entry()
    from awsglue.utils import GlueArgumentError

    with pytest.raises(GlueArgumentError, match="--checkpoint_uri"):
        entry.parse_args(["job.py", "--JOB_NAME", "x", "--lake_uri", "s3://b/l"])


def test_msk_iam_options_reach_the_kafka_source():
    from smartcity.stream.source import kafka_options

    entry = _entry()
    settings, cfg = entry.build(
        entry.parse_args(
            [
                "job.py",
                "--JOB_NAME",
                "j",
                "--lake_uri",
                "s3://b/l",
                "--checkpoint_uri",
                "s3://b/c",
                "--bootstrap_servers",
                "boot:9098",
                "--aws_region",
                "us-east-1",
            ]
        )
    )
    opts = kafka_options(settings, cfg)
    assert opts["kafka.sasl.mechanism"] == "AWS_MSK_IAM" and opts["kafka.security.protocol"] == "SASL_SSL"
    assert opts["subscribe"].split(",") == [
        "vehicle_data",
        "gps_data",
        "traffic_data",
        "weather_data",
        "emergency_data",
    ]
    # The consumer tuning travels with the MSK options (a range read must not wait out Kafka's 500 ms).
    assert opts["kafka.fetch.max.wait.ms"] == str(cfg.kafka_fetch_max_wait_ms) == "10"
    assert opts["kafka.max.poll.records"] == str(cfg.kafka_max_poll_records)
