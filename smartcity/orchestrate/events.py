"""Typed models of the EventBridge events the orchestration reacts to.

Field names follow the AWS EventBridge user guide's examples of "Object Created" (S3), "Glue Crawler State
Change" and "Glue Job State Change" events (the files in ``events/`` are those shapes), and the Glue
developer guide's "Data Quality Evaluation Results Available" example. Only the fields the
decisions need are required, so an AWS-side addition never breaks parsing, while an event missing what we
need fails validation and is counted as malformed instead of half-processed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

# Counted by every orchestration function for an event it cannot act on (logged, never raised).
METRIC_MALFORMED_EVENTS = "MalformedEvents"

# EventBridge event ids are UUIDs; a bound keeps the de-duplication markers built from them storable.
EVENT_ID_MAX_CHARS = 256


class _Envelope(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(min_length=1, max_length=EVENT_ID_MAX_CHARS)
    source: str
    detail_type: str = Field(alias="detail-type")
    time: datetime
    region: str
    account: str = ""
    detail: Any


class S3Bucket(BaseModel):
    name: str


class S3Object(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str
    size: int | None = None
    sequencer: str | None = None


class ObjectCreatedDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    bucket: S3Bucket
    object: S3Object


class ObjectCreatedEvent(_Envelope):
    source: Literal["aws.s3"]
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    detail: ObjectCreatedDetail


class CrawlerStateDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    crawler_name: str = Field(alias="crawlerName")
    state: str
    message: str | None = None
    error_message: str | None = Field(default=None, alias="errorMessage")
    completion_date: datetime | None = Field(default=None, alias="completionDate")
    start_time: datetime | None = Field(default=None, alias="startTime")
    log_link: str | None = Field(default=None, alias="cloudWatchLogLink")


class CrawlerStateEvent(_Envelope):
    source: Literal["aws.glue"]
    detail_type: Literal["Glue Crawler State Change"] = Field(alias="detail-type")
    detail: CrawlerStateDetail


class JobStateDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    job_name: str = Field(alias="jobName")
    state: str
    job_run_id: str = Field(alias="jobRunId")
    severity: str | None = None
    message: str | None = None


class JobStateEvent(_Envelope):
    source: Literal["aws.glue"]
    detail_type: Literal["Glue Job State Change"] = Field(alias="detail-type")
    detail: JobStateDetail


class ScheduledEvent(_Envelope):
    """The periodic reconcile tick (``sam local generate-event cloudwatch scheduled-event`` shape)."""

    source: Literal["aws.events", "aws.scheduler"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")


class DataQualityContext(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    context_type: str = Field(alias="contextType")
    run_id: str | None = Field(default=None, alias="runId")
    database_name: str | None = Field(default=None, alias="databaseName")
    table_name: str | None = Field(default=None, alias="tableName")


class DataQualityResultsDetail(BaseModel):
    """Shape of the AWS Glue developer guide's example (data-quality-alerts.html) for Data Catalog runs."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    context: DataQualityContext
    result_id: str | None = Field(default=None, alias="resultID")
    ruleset_names: list[str] = Field(alias="rulesetNames", min_length=1)
    state: str
    score: float | None = None
    rules_succeeded: int = Field(default=0, alias="rulesSucceeded")
    rules_failed: int = Field(default=0, alias="rulesFailed")
    rules_skipped: int = Field(default=0, alias="rulesSkipped")


class DataQualityResultsEvent(_Envelope):
    source: Literal["aws.glue-dataquality"]
    detail_type: Literal["Data Quality Evaluation Results Available"] = Field(alias="detail-type")
    detail: DataQualityResultsDetail


GlueStateEvent = CrawlerStateEvent | JobStateEvent | ScheduledEvent
# What the failure-alert function receives: failed crawls and job runs, and data quality results.
AlertEvent = CrawlerStateEvent | JobStateEvent | DataQualityResultsEvent


_GLUE_STATE = TypeAdapter(Annotated[GlueStateEvent, Field(discriminator="detail_type")])


def parse_glue_state(event: Any) -> GlueStateEvent:
    """Parse a crawler/job state change or a reconcile tick; raises ``pydantic.ValidationError`` otherwise."""
    return _GLUE_STATE.validate_python(event)


_ALERT_EVENT = TypeAdapter(Annotated[AlertEvent, Field(discriminator="detail_type")])


def parse_alert_event(event: Any) -> AlertEvent:
    """Parse a crawler/job state change or data quality results; raises ``pydantic.ValidationError``."""
    return _ALERT_EVENT.validate_python(event)
