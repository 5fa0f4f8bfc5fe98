"""Knobs of the streaming job: trigger, batch size, watermark and every enrichment window.

Kept in the stream package (a pydantic model) so the job, its tests and the Glue entry share one
definition. docs/streaming.md derives the state and small-file bounds from these defaults and says how
the latency defaults were chosen.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from smartcity.config import Settings


class StreamSettings(BaseModel):
    """Everything the streaming job decides that is not a name or an address."""

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
    cell_size_deg: float = Field(default=Settings.model_fields["cell_size_deg"].default, gt=0)
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

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> StreamSettings:
        """The job's settings, taking the shared cell size from the pipeline's ``Settings``."""
        data: dict[str, object] = {"cell_size_deg": settings.cell_size_deg}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)  # type: ignore[arg-type]

    @property
    def finalize_after_s(self) -> float:
        """A vehicle event at t is final once the watermark reaches t + this (its GPS window closed)."""
        return self.gps_window_s
