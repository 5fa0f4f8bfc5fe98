"""One typed settings object for both worlds.

Every name the code uses (topics, buckets, databases, jobs, crawlers, ports) comes from here, so the same
code runs locally and on AWS with only configuration changed. Values are read, in increasing priority,
from: the profile's defaults, a TOML file (``SMARTCITY_CONFIG`` or ``./smartcity.toml``), and environment
variables prefixed ``SMARTCITY_`` (nested fields with ``__``, e.g. ``SMARTCITY_KAFKA__BOOTSTRAP_SERVERS``).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Stream(StrEnum):
    """The five event streams; the value is the lake table's short name (``raw/<value>/``)."""

    VEHICLE = "vehicle"
    GPS = "gps"
    TRAFFIC = "traffic"
    WEATHER = "weather"
    EMERGENCY = "emergency"


class TopicSettings(BaseModel):
    """Kafka topic per stream. The defaults are the tutorial's names, which producers already use."""

    vehicle: str = "vehicle_data"
    gps: str = "gps_data"
    traffic: str = "traffic_data"
    weather: str = "weather_data"
    emergency: str = "emergency_data"
    partitions: int = Field(default=3, ge=1, description="Partition count used when topics are created")

    def for_stream(self, stream: Stream) -> str:
        return str(getattr(self, stream.value))

    def all(self) -> dict[Stream, str]:
        return {s: self.for_stream(s) for s in Stream}


class KafkaSettings(BaseModel):
    """Broker address and authentication: PLAINTEXT locally, SASL/OAUTHBEARER with IAM on MSK."""

    bootstrap_servers: str = "127.0.0.1:9092"
    auth: Literal["plaintext", "msk_iam"] = "plaintext"
    aws_region: str | None = None


class RedshiftSettings(BaseModel):
    """Where ``smartcity warehouse migrate|status --dialect redshift`` sends SQL (Redshift Data API).

    Workgroup and secret come from the stack's outputs; an empty ``secret_arn`` means IAM temporary
    credentials (the caller needs ``redshift-serverless:GetCredentials``).
    """

    workgroup: str = ""
    database: str = "smartcity"
    secret_arn: str = ""
    poll_interval_s: float = Field(default=1.0, gt=0)
    statement_timeout_s: float = Field(default=900.0, gt=0)


class LocalStackSettings(BaseModel):
    """Ports and state of the embedded local stack; every listener binds 127.0.0.1."""

    home: Path = Path(".smartcity")
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    postgres_port: int = 5433
    moto_port: int = 5055
    kafka_heap: str = "768m"
    # Lake mode "s3": the bucket on moto's S3 API holding the lake (``lake/``) and checkpoints
    # (``checkpoints/``), one data bucket with prefixes as in the AWS template.
    data_bucket: str = "smartcity-local-data"
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 10.0

    @property
    def state_dir(self) -> Path:
        return self.home.resolve()


class Settings(BaseSettings):
    """The pipeline's whole configuration."""

    model_config = SettingsConfigDict(
        env_prefix="SMARTCITY_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    profile: Literal["local", "aws"] = "local"
    # Where the local profile keeps the lake and checkpoints: "file" (a folder under the stack's home)
    # or "s3" (moto's S3 API, read and written through S3A as on AWS Glue 5.1; docs/s3-mode.md).
    lake: Literal["file", "s3"] = "file"
    aws_region: str = "us-east-1"
    # Endpoint of the AWS control-plane API: moto's server locally, None (the real AWS endpoints) on AWS.
    aws_endpoint_url: str | None = None

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    local: LocalStackSettings = LocalStackSettings()
    redshift: RedshiftSettings = RedshiftSettings()

    lake_uri: str = ""
    checkpoint_uri: str = ""
    catalog_database: str = "smartcity"
    warehouse_dsn: str = ""
    glue_streaming_job: str = "smartcity-streaming"
    glue_load_job: str = "smartcity-redshift-load"
    crawler_prefix: str = "smartcity-"

    # Per-stream grid cell size in degrees and the other enrichment knobs live with the stream job.
    cell_size_deg: float = Field(default=0.05, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("SMARTCITY_CONFIG", "smartcity.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    @model_validator(mode="after")
    def _fill_profile_defaults(self) -> Settings:
        """Derive what the profile implies and nothing else: local paths and endpoints from the stack."""
        if self.profile == "local":
            home = self.local.state_dir
            if not self.lake_uri:
                self.lake_uri = (
                    f"s3a://{self.local.data_bucket}/lake" if self.lake == "s3" else (home / "lake").as_uri()
                )
            if not self.checkpoint_uri:
                self.checkpoint_uri = (
                    f"s3a://{self.local.data_bucket}/checkpoints"
                    if self.lake == "s3"
                    else (home / "checkpoints").as_uri()
                )
            if self.aws_endpoint_url is None:
                self.aws_endpoint_url = f"http://127.0.0.1:{self.local.moto_port}"
            if not self.warehouse_dsn:
                self.warehouse_dsn = f"postgresql://postgres@127.0.0.1:{self.local.postgres_port}/postgres"
            if self.kafka.bootstrap_servers == KafkaSettings().bootstrap_servers:
                self.kafka.bootstrap_servers = f"127.0.0.1:{self.local.kafka_port}"
        else:
            missing = [n for n in ("lake_uri", "checkpoint_uri") if not getattr(self, n)]
            if missing:
                raise ValueError(
                    f"profile 'aws' needs {', '.join(missing)} (set SMARTCITY_{missing[0].upper()})"
                )
            if self.kafka.auth == "plaintext":
                self.kafka.auth = "msk_iam"
            if self.kafka.aws_region is None:
                self.kafka.aws_region = self.aws_region
        return self

    def boto3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client``: the region, and moto's endpoint locally."""
        kwargs: dict[str, Any] = {"region_name": self.aws_region}
        if self.aws_endpoint_url:
            kwargs["endpoint_url"] = self.aws_endpoint_url
        if self.profile == "local":
            # moto accepts any key; a fixed placeholder keeps boto3 from searching for real credentials.
            kwargs["aws_access_key_id"] = "smartcity-local"
            kwargs["aws_secret_access_key"] = "smartcity-local"
        return kwargs


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` win over the environment and the file (used by tests and the CLI)."""
    return Settings(**overrides)
