"""The orchestration on the local stack: the same decisions, with boto3 clients pointed at moto.

The local flow (wired by the demo): the streaming job commits files → ``on_new_files`` with an
``object_created_event`` per file → the crawlers it started are run with ``smartcity crawl`` →
``crawl_finished`` (which also ends the crawl in moto's Glue API, evaluates the table's data quality
rules and starts the load job when the enriched table was crawled) → ``smartcity load`` runs the load →
``load_finished``. Each step takes or builds an event of the exact shape EventBridge delivers in AWS, so
the handlers' code path is the one exercised.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

from smartcity.config import Settings
from smartcity.orchestrate.config import CoordinationConfig, LakeConfig
from smartcity.orchestrate.crawls import Outcome
from smartcity.orchestrate.events import ObjectCreatedEvent, parse_glue_state
from smartcity.orchestrate.lake_keys import TABLE_PATHS, crawler_name
from smartcity.orchestrate.service import Orchestrator

STATE_TABLE = "smartcity-orchestration"
# A file:// lake has no bucket; events for it name this placeholder so the shapes stay the AWS ones.
LOCAL_BUCKET = "smartcity-local-lake"


def lake_config(settings: Settings) -> LakeConfig:
    """Bucket and prefix of the lake (``s3://bucket/prefix``), or the placeholder bucket for a folder."""
    parsed = urlparse(settings.lake_uri)
    if parsed.scheme in ("s3", "s3a"):
        prefix = parsed.path.lstrip("/")
        return LakeConfig(
            parsed.netloc,
            prefix + "/" if prefix and not prefix.endswith("/") else prefix,
            settings.crawler_prefix,
        )
    return LakeConfig(LOCAL_BUCKET, "", settings.crawler_prefix)


def coordination_config(settings: Settings) -> CoordinationConfig:
    return CoordinationConfig(state_table=STATE_TABLE, load_job_name=settings.glue_load_job)


def _client(settings: Settings, service: str) -> Any:
    return boto3.client(service, **settings.boto3_kwargs())


def ensure_resources(settings: Settings) -> None:
    """Create, if missing, what the template creates in AWS: the state table, the crawlers, the load job."""
    ddb = _client(settings, "dynamodb")
    try:
        ddb.create_table(
            TableName=STATE_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    glue = _client(settings, "glue")
    lake = settings.lake_uri.rstrip("/")
    for table in TABLE_PATHS:
        try:
            glue.create_crawler(
                Name=crawler_name(settings.crawler_prefix, table),
                Role="smartcity-local-crawler",
                DatabaseName=settings.catalog_database,
                Targets={"S3Targets": [{"Path": f"{lake}/{table}/"}]},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "AlreadyExistsException":
                raise
    try:
        glue.get_job(JobName=settings.glue_load_job)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityNotFoundException":
            raise
        glue.create_job(
            Name=settings.glue_load_job,
            Role="smartcity-local-load",
            Command={"Name": "glueetl", "ScriptLocation": "glue_etl/job.py"},
            ExecutionProperty={"MaxConcurrentRuns": 1},
        )


def orchestrator(settings: Settings) -> Orchestrator:
    """The handlers' orchestrator on moto; data quality runs on the local engine (rulesets named like the
    crawlers, as the template names them)."""
    from smartcity.quality.local_runner import LocalQualityRunner

    quality = (LocalQualityRunner(settings, settings.crawler_prefix), settings.crawler_prefix)
    return Orchestrator.build(
        _client(settings, "glue"),
        _client(settings, "dynamodb"),
        lake_config(settings),
        coordination_config(settings),
        quality=quality,
    )


# -- events of the shapes EventBridge delivers -----------------------------------------------------------


def _envelope(
    source: str, detail_type: str, detail: dict[str, Any], settings: Settings, when: datetime | None
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "000000000000",
        "time": (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": settings.aws_region,
        "resources": [],
        "detail": detail,
    }


def object_created_event(
    settings: Settings, key: str, size: int = 0, when: datetime | None = None
) -> dict[str, Any]:
    """An S3 "Object Created" EventBridge event for a lake file (``key`` relative to the lake root). The
    event names the key relative to the bucket, as S3 does: an ``s3a://bucket/lake`` lake adds ``lake/``."""
    lake = lake_config(settings)
    bucket, key = lake.bucket, lake.prefix + key
    event = _envelope(
        "aws.s3",
        "Object Created",
        {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "sequencer": f"{time.time_ns():X}"},
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": "000000000000",
            "reason": "PutObject",
        },
        settings,
        when,
    )
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    return event


def crawler_state_event(
    settings: Settings, crawler: str, state: str, when: datetime | None = None
) -> dict[str, Any]:
    """A "Glue Crawler State Change" event (state Started, Succeeded or Failed).

    Glue stamps ``completionDate`` to the second, which orders a crawler's ends because a Glue crawl takes
    far longer than a second; a local crawl can end within the second of the previous one, so its stamp
    keeps milliseconds (an ISO time the event model parses the same way).
    """
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    detail: dict[str, Any] = {"crawlerName": crawler, "state": state, "message": f"Crawler {state}"}
    if state == "Succeeded":
        detail["completionDate"] = stamp
    elif state == "Started":
        detail["startTime"] = stamp
    return _envelope("aws.glue", "Glue Crawler State Change", detail, settings, when)


def job_state_event(
    settings: Settings, job: str, run_id: str, state: str, when: datetime | None = None
) -> dict[str, Any]:
    """A "Glue Job State Change" event (SUCCEEDED, FAILED, TIMEOUT, STOPPED)."""
    severity = "INFO" if state == "SUCCEEDED" else "ERROR"
    detail = {
        "jobName": job,
        "severity": severity,
        "state": state,
        "jobRunId": run_id,
        "message": f"Job run {state.lower()}",
    }
    return _envelope("aws.glue", "Glue Job State Change", detail, settings, when)


# -- the handlers' decisions, driven locally ---------------------------------------------------------------


def on_new_files(settings: Settings, event: dict[str, Any]) -> Outcome:
    """What the new-lake-files function does with ``event``."""
    return orchestrator(settings).on_object_created(ObjectCreatedEvent.model_validate(event))


def on_glue_state(settings: Settings, event: dict[str, Any]) -> Outcome:
    """What the crawl-finished function does with a crawler/job state change or a reconcile tick."""
    return orchestrator(settings).on_glue_state(parse_glue_state(event))


def crawl_finished(settings: Settings, crawler: str, succeeded: bool = True) -> Outcome:
    """End the crawl in moto's Glue API (after ``smartcity crawl`` did the work) and deliver its event.

    moto keeps a started crawler RUNNING; stopping it is how the local world says the crawl is over, so
    the next StartCrawler is accepted as it would be in AWS.
    """
    try:
        _client(settings, "glue").stop_crawler(Name=crawler)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "CrawlerNotRunningException":
            raise
    state = "Succeeded" if succeeded else "Failed"
    return on_glue_state(settings, crawler_state_event(settings, crawler, state))


def load_finished(settings: Settings, run_id: str, state: str = "SUCCEEDED") -> Outcome:
    """Deliver the end of a load run (after ``smartcity load`` did the work)."""
    return on_glue_state(settings, job_state_event(settings, settings.glue_load_job, run_id, state))
