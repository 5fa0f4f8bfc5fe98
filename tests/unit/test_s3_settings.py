"""The S3 mode's configuration: URIs from the configured bucket, S3A pointed at the local endpoint with
placeholder credentials only, and ``--lake`` re-deriving the URIs like ``--home`` does."""

from __future__ import annotations

import argparse

import pytest

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.config import Settings
from smartcity.local import s3

pytestmark = pytest.mark.unit


def test_lake_s3_puts_lake_and_checkpoints_in_the_configured_bucket(tmp_path):
    settings = Settings(profile="local", lake="s3", local={"home": tmp_path, "data_bucket": "city-data"})  # type: ignore[arg-type]
    assert settings.lake_uri == "s3a://city-data/lake"
    assert settings.checkpoint_uri == "s3a://city-data/checkpoints"
    assert s3.uses_s3(settings) and s3.buckets(settings) == ["city-data"]
    file_mode = Settings(profile="local", local={"home": tmp_path})  # type: ignore[arg-type]
    assert file_mode.lake_uri.startswith("file://") and not s3.uses_s3(file_mode)
    assert s3.spark_options(file_mode) == {}


def test_s3a_options_reach_the_local_endpoint_path_style_with_placeholder_credentials(tmp_path):
    settings = Settings(profile="local", lake="s3", local={"home": tmp_path, "moto_port": 15055})  # type: ignore[arg-type]
    options = s3.s3a_options(settings)
    assert options["fs.s3a.endpoint"] == "http://127.0.0.1:15055"
    assert options["fs.s3a.endpoint.region"] == settings.aws_region
    assert options["fs.s3a.path.style.access"] == "true"
    assert options["fs.s3a.connection.ssl.enabled"] == "false"
    assert options["fs.s3a.aws.credentials.provider"].endswith("SimpleAWSCredentialsProvider")
    assert options["fs.s3a.access.key"] == settings.boto3_kwargs()["aws_access_key_id"]
    assert s3.spark_options(settings)["spark.hadoop.fs.s3.impl"] == s3.S3A_FILESYSTEM


def test_aws_profile_sets_only_the_region_and_never_a_key():
    settings = Settings(profile="aws", lake_uri="s3://b/lake/", checkpoint_uri="s3://b/checkpoints/")
    options = s3.s3a_options(settings)
    assert options["fs.s3a.endpoint.region"] == settings.aws_region
    assert not any("key" in k or "credentials" in k or k == "fs.s3a.endpoint" for k in options)


def test_lake_option_rederives_the_uris(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTCITY_LOCAL__HOME", str(tmp_path))
    parser = argparse.ArgumentParser()
    add_stack_options(parser)
    assert settings_from(parser.parse_args([])).lake_uri == (tmp_path.resolve() / "lake").as_uri()
    on_s3 = settings_from(parser.parse_args(["--lake", "s3"]))
    assert on_s3.lake == "s3" and on_s3.lake_uri == f"s3a://{on_s3.local.data_bucket}/lake"
    with pytest.raises(SystemExit):
        parser.parse_args(["--lake", "hdfs"])
