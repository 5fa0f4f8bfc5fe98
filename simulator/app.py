"""Scheduled simulator Lambda (EventBridge rule → this handler): one bounded burst into MSK.

Thin by design: configuration from the environment, the work in ``smartcity.simulate.burst``.
Environment: ``SIMULATOR_STATE_BUCKET`` (required), ``SIMULATOR_STATE_KEY``, ``SIMULATOR_BURST_SECONDS``,
``SIMULATOR_MAX_EVENTS``, ``SIMULATOR_MAX_WALL_SECONDS``, ``SIMULATOR_START_LAG_SECONDS``,
``SIMULATOR_VEHICLES``, ``SIMULATOR_SCENARIO``, ``SIMULATOR_SEED``, ``SIMULATOR_FAULT_RATE``; Kafka and
AWS settings from ``SMARTCITY_*`` (``SMARTCITY_PROFILE=aws`` selects MSK IAM auth).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from smartcity.config import Settings
from smartcity.simulate.burst import BurstConfig, S3WorldStateStore, run_burst
from smartcity.simulate.encode import epoch_ms

logger = Logger(service="smartcity-simulator")
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "SmartCity"), service="simulator")


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    cfg = BurstConfig.from_env(os.environ)
    settings = Settings()
    store = S3WorldStateStore(boto3.client("s3", **settings.boto3_kwargs()), cfg.bucket, cfg.key)
    manifest = run_burst(
        cfg,
        settings,
        store,
        now_ms=epoch_ms(datetime.now(UTC)),
        time_left_s=context.get_remaining_time_in_millis() / 1000.0,
    )
    totals = manifest["totals"]
    metrics.add_metric(name="EventsAcknowledged", unit=MetricUnit.Count, value=totals["acknowledged"])
    metrics.add_metric(name="DeliveryFailures", unit=MetricUnit.Count, value=totals["failed"])
    metrics.add_metric(name="MalformedInjected", unit=MetricUnit.Count, value=totals["malformed_total"])
    summary = {
        "invocation": manifest["invocation"],
        "window": manifest["window"],
        "complete": manifest["complete"],
        "totals": totals,
        "topics": {t: v["acknowledged"] for t, v in manifest["topics"].items()},
        "schedule_time": event.get("time"),
    }
    logger.info("simulator burst finished", extra=summary)
    return summary
