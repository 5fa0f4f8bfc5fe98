"""New lake files → crawl: EventBridge "Object Created" events from the lake bucket.

Thin Powertools handler: parse, decide (``smartcity.orchestrate``), log, count. A malformed event is logged
and counted, never raised: EventBridge would retry it to no avail.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from smartcity.orchestrate.config import CoordinationConfig, LakeConfig
from smartcity.orchestrate.coordination import CoordinationTable
from smartcity.orchestrate.crawls import METRIC_CRAWLS_STARTED, METRIC_OBJECTS_IGNORED, CrawlCoordinator
from smartcity.orchestrate.events import METRIC_MALFORMED_EVENTS, ObjectCreatedEvent

logger = Logger()
metrics = Metrics()
# How much of a key too long to handle goes to the log: enough to find the writer, bounded for the log line.
LOGGED_KEY_PREFIX_CHARS = 256


@cache
def _crawls() -> CrawlCoordinator:
    # Built once per execution environment; env vars are set by template.yaml. Only the crawl side: this
    # function's role may start crawlers, not jobs.
    config = CoordinationConfig.from_env()
    store = CoordinationTable(boto3.client("dynamodb"), config.state_table, config.marker_ttl_days)
    return CrawlCoordinator(boto3.client("glue"), store, LakeConfig.from_env(), config)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = parse(event=event, model=ObjectCreatedEvent)
    except (ValidationError, ValueError, TypeError) as exc:
        logger.error("malformed event ignored", extra={"error": str(exc)[:500], "event": str(event)[:1000]})
        metrics.add_metric(name=METRIC_MALFORMED_EVENTS, unit=MetricUnit.Count, value=1)
        return {"status": "malformed"}
    key = parsed.detail.object.key
    out = _crawls().on_object_created(parsed.detail.bucket.name, key)
    if out.malformed:
        logger.error(
            "malformed event ignored",
            extra={
                "error": out.malformed[key],
                "key_prefix": key[:LOGGED_KEY_PREFIX_CHARS],
                "key_chars": len(key),
            },
        )
        metrics.add_metric(name=METRIC_MALFORMED_EVENTS, unit=MetricUnit.Count, value=1)
        return {"status": "malformed"}
    metrics.add_metric(name=METRIC_CRAWLS_STARTED, unit=MetricUnit.Count, value=len(out.started))
    metrics.add_metric(name=METRIC_OBJECTS_IGNORED, unit=MetricUnit.Count, value=len(out.skipped))
    logger.info(
        "object handled",
        extra={
            "key": key,
            "started": out.started,
            "already_running": out.already_running,
            "skipped": out.skipped,
        },
    )
    return {"status": "ok", "started": out.started, "skipped": out.skipped}
