"""One typed settings object for both worlds.

Every name the code uses (topics, buckets, databases, jobs, crawlers, ports) and every knob of the streaming
job (``Settings.stream``) comes from here, so the same
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

# The simulator's weather grid and the streaming job's enrichment grid are the same grid.
CELL_SIZE_DEG = 0.05


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


class StreamSettings(BaseModel):
    """Everything the streaming job decides that is not a name or an address.

    docs/streaming.md derives the state and small-file bounds from these defaults and says how the latency
    defaults were chosen.
    """

    # Micro-batches: one batch per trigger, so files per table partition per hour <= 3600 / trigger.
    trigger_interval_s: float = Field(default=5.0, gt=0)
    max_offsets_per_trigger: int | None = Field(default=2_000_000, gt=0)
    starting_offsets: str = "earliest"
    # Kafka consumer of the source: Spark reads each topic-partition's range with its own consumer, and
    # each read otherwise ends by waiting out the broker's fetch.max.wait.ms (Kafka's default 500 ms). The
    # ranges are planned from offsets the broker already has, so a short wait asks for nothing more
    # (docs/decisions/0004).
    kafka_fetch_max_wait_ms: int = Field(default=10, ge=0)
    # Fewer, larger polls per range (Kafka defaults: 500 records, 1 MiB per partition fetch).
    kafka_max_poll_records: int = Field(default=10_000, gt=0)
    kafka_max_partition_fetch_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    # Event-time watermark = newest event time seen on ANY stream minus this delay (the "max" policy).
    watermark_delay_s: float = Field(default=20.0, ge=0)
    # A step's newest event time moves the watermark at most this far past its ingest time: a producer
    # whose clock runs ahead does not make everyone else's events late (its own events still count).
    max_clock_lead_s: float = Field(default=5.0, ge=0)
    # Enrichment windows: GPS within +-gps_window_s, weather in [t - weather, t], emergencies
    # Active in [t - emergency, t] within emergency_radius_km.
    gps_window_s: float = Field(default=10.0, ge=0)
    weather_window_s: float = Field(default=15 * 60.0, ge=0)
    emergency_window_s: float = Field(default=30 * 60.0, ge=0)
    emergency_radius_km: float = Field(default=2.0, gt=0)
    # The grid cell of ``cell_id`` (contract: ``floor(lat/s):floor(lon/s)``); weather is joined by cell.
    cell_size_deg: float = Field(default=CELL_SIZE_DEG, gt=0)
    # Vehicle ids are remembered this long (event time, past the watermark) to drop duplicates.
    dedup_horizon_s: float = Field(default=600.0, ge=0)
    # Contract: event times more than this ahead of ingest time are quarantined (future_timestamp).
    max_future_s: float = Field(default=300.0, ge=0)
    # At the end of an --available-now run, close every open window (see docs/streaming.md).
    flush_on_drain: bool = True
    # Spark partitions for the per-batch joins (frozen into nothing: our state is our own files).
    shuffle_partitions: int = Field(default=4, ge=1)
    # How long `smartcity stream` waits for a broker that stopped answering before it stops the job with
    # one line (docs/decisions/0010): a restart of the broker within it goes unnoticed.
    broker_patience_s: float = Field(default=60.0, gt=0)
    # CloudWatch namespace; metrics are sent only when this is set (the Glue entry sets it on AWS).
    cloudwatch_namespace: str | None = None

    def with_overrides(self, **overrides: object) -> StreamSettings:
        """These settings with the given values replaced (``None`` keeps a value), validated."""
        data = self.model_dump()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return StreamSettings.model_validate(data)

    @property
    def finalize_after_s(self) -> float:
        """A vehicle event at t is final once the watermark reaches t + this (its GPS window closed)."""
        return self.gps_window_s


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
    # The streaming job's knobs (``SMARTCITY_STREAM__TRIGGER_INTERVAL_S``, ...; CLI flags override them).
    stream: StreamSettings = StreamSettings()

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
