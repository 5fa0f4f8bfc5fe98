"""Failure → SNS alert: crawler Failed, job FAILED/TIMEOUT/ERROR/STOPPED, streaming job ended, a data
quality rule failed.

Thin Powertools handler; what counts as a failure and what the alert says is
``smartcity.orchestrate.alerts``: published at least once per EventBridge event id (marked in the state
table after publishing), and a repeated delivery of an alerted event publishes and counts nothing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from smartcity.orchestrate.alerts import (
    DIMENSION_KIND,
    FAILURE_METRIC,
    METRIC_ALERTS_PUBLISHED,
    alert_on_failure,
)
from smartcity.orchestrate.config import AlertConfig
from smartcity.orchestrate.events import METRIC_MALFORMED_EVENTS, parse_alert_event

logger = Logger()
metrics = Metrics()


@cache
def _deps() -> tuple[Any, Any, AlertConfig]:
    return boto3.client("sns"), boto3.client("dynamodb"), AlertConfig.from_env()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = parse_alert_event(event)
    except (ValidationError, ValueError, TypeError) as exc:
        logger.error("malformed event ignored", extra={"error": str(exc)[:500], "event": str(event)[:1000]})
        metrics.add_metric(name=METRIC_MALFORMED_EVENTS, unit=MetricUnit.Count, value=1)
        return {"status": "malformed"}
    sns, ddb, config = _deps()
    outcome = alert_on_failure(parsed, sns, ddb, config)
    alert = outcome.alert
    if alert is None:
        logger.info("no alert", extra={"detail_type": parsed.detail_type, "state": parsed.detail.state})
        return {"status": "no-alert"}
    if not outcome.published:
        logger.info("alert already published for this event", extra={"alert": alert.subject})
        return {"status": "duplicate", "subject": alert.subject}
    # One failure metric per alarm (no dimension but service; its own EMF line, written as the block
    # exits), and the count per kind for dashboards.
    with single_metric(name=FAILURE_METRIC[alert.kind], unit=MetricUnit.Count, value=1):
        pass
    metrics.add_dimension(name=DIMENSION_KIND, value=alert.kind)
    metrics.add_metric(name=METRIC_ALERTS_PUBLISHED, unit=MetricUnit.Count, value=1)
    logger.warning("alert published", extra={"alert": alert.subject, "logs": alert.logs_url})
    return {"status": "alerted", "subject": alert.subject}
