"""The compaction job's Glue entry reads its arguments with Glue's getResolvedOptions into settings."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest

from smartcity.config import StreamSettings

pytestmark = pytest.mark.unit

ENTRY = Path(__file__).resolve().parents[2] / "glue_etl" / "compact.py"
REQUIRED = [
    "compact.py",
    "--JOB_NAME", "stack-compaction",
    "--lake_uri", "s3://data-bucket/lake/",
    "--checkpoint_uri", "s3://data-bucket/checkpoints/streaming/",
    "--catalog_database", "smartcity_dev",
    "--aws_region", "eu-west-1",
]  # fmt: skip


def _entry():
    spec = importlib.util.spec_from_file_location("glue_etl_compact", ENTRY)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_required_arguments_become_settings_and_the_stream_defaults_apply():
    entry = _entry()
    settings, params = entry.build(entry.parse_args(REQUIRED))
    assert settings.profile == "aws" and settings.aws_region == "eu-west-1"
    assert settings.lake_uri == "s3://data-bucket/lake/"
    assert settings.checkpoint_uri == "s3://data-bucket/checkpoints/streaming/"
    assert settings.catalog_database == "smartcity_dev"
    defaults = StreamSettings()
    assert params["watermark_delay_s"] == defaults.watermark_delay_s
    assert params["dedup_horizon_s"] == defaults.dedup_horizon_s
    assert params["target_file_bytes"] == 128 * 1024 * 1024
    assert params["grace"] == timedelta(minutes=60)


def test_optional_arguments_override_the_defaults():
    entry = _entry()
    argv = [*REQUIRED, "--grace_minutes", "90", "--target_mb", "64", "--watermark_delay_s", "30"]
    _, params = entry.build(entry.parse_args(argv))
    assert params["grace"] == timedelta(minutes=90)
    assert params["target_file_bytes"] == 64 * 1024 * 1024
    assert params["watermark_delay_s"] == 30.0


def test_a_missing_required_argument_is_refused():
    entry = _entry()
    from awsglue.utils import GlueArgumentError

    with pytest.raises(GlueArgumentError, match="--catalog_database"):
        entry.parse_args([a for a in REQUIRED if a not in ("--catalog_database", "smartcity_dev")])
