"""Settings: one place, two profiles, environment and file overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from smartcity.config import Settings, Stream, StreamSettings

pytestmark = pytest.mark.unit


def test_local_profile_derives_everything_from_the_stack(tmp_path: Path) -> None:
    s = Settings(local={"home": tmp_path, "kafka_port": 19092, "postgres_port": 15433, "moto_port": 15055})
    assert s.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert s.kafka.auth == "plaintext"
    assert s.lake_uri == (tmp_path / "lake").as_uri()
    assert s.checkpoint_uri == (tmp_path / "checkpoints").as_uri()
    assert not s.checkpoint_uri.startswith(s.lake_uri + "/")  # checkpoints never inside table prefixes
    assert s.warehouse_dsn.endswith("@127.0.0.1:15433/postgres")
    assert s.boto3_kwargs()["endpoint_url"] == "http://127.0.0.1:15055"


def test_topics_default_to_the_tutorial_names() -> None:
    assert Settings().topics.all() == {
        Stream.VEHICLE: "vehicle_data",
        Stream.GPS: "gps_data",
        Stream.TRAFFIC: "traffic_data",
        Stream.WEATHER: "weather_data",
        Stream.EMERGENCY: "emergency_data",
    }


def test_environment_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_TOPICS__PARTITIONS", "6")
    monkeypatch.setenv("SMARTCITY_TOPICS__VEHICLE", "city_vehicles")
    s = Settings()
    assert s.topics.partitions == 6 and s.topics.for_stream(Stream.VEHICLE) == "city_vehicles"


def test_toml_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "smartcity.toml"
    cfg.write_text('catalog_database = "from_file"\n[topics]\npartitions = 2\n')
    monkeypatch.setenv("SMARTCITY_CONFIG", str(cfg))
    monkeypatch.setenv("SMARTCITY_CATALOG_DATABASE", "from_env")
    s = Settings()
    assert s.topics.partitions == 2 and s.catalog_database == "from_env"


def test_aws_profile_needs_the_lake_and_uses_msk_iam() -> None:
    with pytest.raises(ValidationError, match="lake_uri"):
        Settings(profile="aws")
    s = Settings(
        profile="aws",
        lake_uri="s3://lake/prefix",
        checkpoint_uri="s3://ckpt/prefix",
        aws_region="eu-west-1",
        kafka={"bootstrap_servers": "b-1.example:9098"},
    )
    assert s.kafka.auth == "msk_iam" and s.kafka.aws_region == "eu-west-1"
    assert "endpoint_url" not in s.boto3_kwargs() and "aws_access_key_id" not in s.boto3_kwargs()


def test_unknown_setting_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)


def test_the_streaming_job_is_configured_like_every_other_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "smartcity.toml"
    cfg.write_text("[stream]\nwatermark_delay_s = 45\ncell_size_deg = 0.1\n")
    monkeypatch.setenv("SMARTCITY_CONFIG", str(cfg))
    monkeypatch.setenv("SMARTCITY_STREAM__TRIGGER_INTERVAL_S", "30")
    s = Settings()
    assert (s.stream.trigger_interval_s, s.stream.watermark_delay_s, s.stream.cell_size_deg) == (30, 45, 0.1)
    assert s.stream.gps_window_s == StreamSettings().gps_window_s  # the rest keeps the job's defaults


def test_stream_overrides_replace_given_values_only_and_are_validated() -> None:
    stream = Settings(stream={"watermark_delay_s": 45}).stream
    run = stream.with_overrides(trigger_interval_s=60, max_offsets_per_trigger=None)
    assert (run.trigger_interval_s, run.watermark_delay_s) == (60, 45)
    assert run.max_offsets_per_trigger == StreamSettings().max_offsets_per_trigger
    assert stream.trigger_interval_s == StreamSettings().trigger_interval_s  # the original is unchanged
    with pytest.raises(ValidationError, match="trigger_interval_s"):
        stream.with_overrides(trigger_interval_s=0)
