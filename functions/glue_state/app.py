"""Crawl finished / load finished / reconcile tick → the next crawl or load, and a crawled table's data
quality evaluation.

EventBridge delivers "Glue Crawler State Change" (lake crawlers), "Glue Job State Change" (the load job)
and a 15-minute "Scheduled Event" (reconcile: the safety net for lost events). Thin Powertools handler;
the decisions are ``smartcity.orchestrate.service.Orchestrator.on_glue_state``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from smartcity.orchestrate.config import CoordinationConfig, LakeConfig, QualityConfig
from smartcity.orchestrate.crawls import METRIC_CRAWLS_STARTED
from smartcity.orchestrate.events import METRIC_MALFORMED_EVENTS, parse_glue_state
from smartcity.orchestrate.loads import METRIC_LOADS_DEFERRED, METRIC_LOADS_STARTED
from smartcity.orchestrate.quality import METRIC_QUALITY_RUNS_STARTED, GlueQualityRunner
from smartcity.orchestrate.service import Orchestrator

logger = Logger()
metrics = Metrics()


@cache
def _orchestrator() -> Orchestrator:
    glue = boto3.client("glue")
    quality = QualityConfig.from_env()
    return Orchestrator.build(
        glue,
        boto3.client("dynamodb"),
        LakeConfig.from_env(),
        CoordinationConfig.from_env(),
        quality=(GlueQualityRunner(glue, quality.role_arn), quality.ruleset_prefix) if quality else None,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = parse_glue_state(event)
    except (ValidationError, ValueError, TypeError) as exc:
        logger.error("malformed event ignored", extra={"error": str(exc)[:500], "event": str(event)[:1000]})
        metrics.add_metric(name=METRIC_MALFORMED_EVENTS, unit=MetricUnit.Count, value=1)
        return {"status": "malformed"}
    out = _orchestrator().on_glue_state(parsed)
    metrics.add_metric(name=METRIC_CRAWLS_STARTED, unit=MetricUnit.Count, value=len(out.started))
    metrics.add_metric(name=METRIC_LOADS_STARTED, unit=MetricUnit.Count, value=len(out.loads_started))
    metrics.add_metric(name=METRIC_LOADS_DEFERRED, unit=MetricUnit.Count, value=len(out.loads_deferred))
    metrics.add_metric(name=METRIC_QUALITY_RUNS_STARTED, unit=MetricUnit.Count, value=len(out.quality_runs))
    logger.info(
        "state change handled",
        extra={
            "detail_type": parsed.detail_type,
            "started": out.started,
            "already_running": out.already_running,
            "loads_started": out.loads_started,
            "loads_deferred": out.loads_deferred,
            "quality_runs": out.quality_runs,
            "skipped": out.skipped,
        },
    )
    return {
        "status": "ok",
        "started": out.started,
        "loads_started": out.loads_started,
        "loads_deferred": out.loads_deferred,
        "quality_runs": out.quality_runs,
        "skipped": out.skipped,
    }
