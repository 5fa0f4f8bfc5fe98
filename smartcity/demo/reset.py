"""Start the demo from a clean pipeline state, so its reconciliation counts only what it produced.

The stack keeps running; what is cleared is pipeline data: the five topics (deleted and recreated), the
lake and the checkpoints, the catalog database and the orchestration's state, and the warehouse schema.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import boto3
import psycopg
from botocore.exceptions import ClientError

from smartcity.config import Settings
from smartcity.errors import SmartCityError
from smartcity.local import s3
from smartcity.local.kafka import KafkaBroker


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise SmartCityError(f"the demo runs on a local lake or moto's S3 only, not {uri}")
    return Path(unquote(parsed.path))


def reset_topics(settings: Settings, timeout_s: float = 60.0) -> None:
    broker = KafkaBroker(settings)
    admin = broker.admin()
    topics = list(settings.topics.all().values())
    existing = [t for t in topics if t in admin.list_topics(timeout=10).topics]
    if existing:
        for fut in admin.delete_topics(existing, operation_timeout=30).values():
            fut.result()
    deadline = time.monotonic() + timeout_s
    # Deletion is asynchronous in KRaft: recreate only once the old topics are gone.
    while any(t in admin.list_topics(timeout=10).topics for t in topics):
        if time.monotonic() > deadline:
            raise SmartCityError("Kafka did not finish deleting the demo topics")
        time.sleep(0.3)
    broker.ensure_topics(deadline=time.monotonic() + timeout_s)


def reset_catalog(settings: Settings) -> None:
    from smartcity.orchestrate.local import STATE_TABLE

    glue = boto3.client("glue", **settings.boto3_kwargs())
    for crawler in glue.get_crawlers().get("Crawlers", []):
        if crawler["Name"].startswith(settings.crawler_prefix):
            for call in (glue.stop_crawler, glue.delete_crawler):
                with contextlib.suppress(ClientError):
                    call(Name=crawler["Name"])
    try:
        glue.delete_database(Name=settings.catalog_database)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityNotFoundException":
            raise
    ddb = boto3.client("dynamodb", **settings.boto3_kwargs())
    try:
        ddb.delete_table(TableName=STATE_TABLE)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise


def reset_warehouse(settings: Settings) -> None:
    with psycopg.connect(settings.warehouse_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def reset_pipeline_state(settings: Settings) -> None:
    if s3.uses_s3(settings):
        s3.ensure_buckets(settings)
        s3.delete_prefixes(settings, [settings.lake_uri, settings.checkpoint_uri])
    else:
        for uri in (settings.lake_uri, settings.checkpoint_uri):
            shutil.rmtree(_local_path(uri), ignore_errors=True)
    reset_topics(settings)
    reset_catalog(settings)
    reset_warehouse(settings)
