"""Failure alerts: decide whether a Glue state change is a failure and say what, when and where the logs are.

A crawler that Failed, a job run that ended FAILED, TIMEOUT or ERROR, and the streaming job ending in any
state at all (it is meant to run forever: STOPPED or even SUCCEEDED means the lake stopped filling) are
failures. Each alert is published once per EventBridge event id (deliveries can repeat).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

from smartcity.orchestrate.config import AlertConfig
from smartcity.orchestrate.events import CrawlerStateEvent, JobStateEvent
from smartcity.orchestrate.state import StateStore

FAILED_JOB_STATES = frozenset({"FAILED", "TIMEOUT", "ERROR"})
ENDED_JOB_STATES = FAILED_JOB_STATES | {"STOPPED", "SUCCEEDED"}


@dataclass(frozen=True)
class Alert:
    """One failure, in words a person on call can act on."""

    kind: str  # "crawler" | "job" | "streaming-job"
    name: str
    state: str
    time: str
    message: str
    logs_url: str
    console_url: str
    run_id: str | None = None

    @property
    def subject(self) -> str:
        # SNS subjects are limited to 100 characters.
        return f"[smartcity] {self.kind} {self.name} {self.state}"[:100]

    def body(self) -> str:
        lines = [
            f"What: {self.kind} {self.name} ended {self.state}"
            + (f" (run {self.run_id})" if self.run_id else ""),
            f"When: {self.time}",
            f"Why:  {self.message or 'no message in the event'}",
            f"Logs: {self.logs_url}",
            f"Console: {self.console_url}",
            "",
            json.dumps(asdict(self), sort_keys=True),
        ]
        return "\n".join(lines)


def _cw_logs_url(region: str, group: str, stream: str) -> str:
    # The CloudWatch console escapes '/' in the fragment as '$252F' (a double-encoded '%2F').
    enc = quote(group, safe="").replace("%", "$25")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{enc}/log-events/{quote(stream, safe='')}"
    )


def alert_for(event: CrawlerStateEvent | JobStateEvent, streaming_job: str) -> Alert | None:
    """The alert an event calls for, or None when the state change is not a failure."""
    when = event.time.isoformat().replace("+00:00", "Z")
    region = event.region
    if isinstance(event, CrawlerStateEvent):
        d = event.detail
        if d.state.lower() != "failed":
            return None
        return Alert(
            kind="crawler",
            name=d.crawler_name,
            state=d.state,
            time=when,
            message=d.error_message or d.message or "",
            logs_url=d.log_link or _cw_logs_url(region, "/aws-glue/crawlers", d.crawler_name),
            console_url=f"https://{region}.console.aws.amazon.com/glue/home?region={region}#/v2/data-catalog/crawlers/view/{d.crawler_name}",
        )
    d = event.detail
    streaming = d.job_name == streaming_job
    if not (d.state in FAILED_JOB_STATES or (streaming and d.state in ENDED_JOB_STATES)):
        return None
    return Alert(
        kind="streaming-job" if streaming else "job",
        name=d.job_name,
        state=d.state,
        time=when,
        message=d.message or "",
        # Glue 5.x writes driver and executor logs to /aws-glue/jobs/error, stream = the run id.
        logs_url=_cw_logs_url(region, "/aws-glue/jobs/error", d.job_run_id),
        console_url=f"https://{region}.console.aws.amazon.com/gluestudio/home?region={region}#/job/{quote(d.job_name)}/run/{d.job_run_id}",
        run_id=d.job_run_id,
    )


def publish(sns: Any, topic_arn: str, alert: Alert) -> str:
    """Publish the alert; returns the SNS message id."""
    return str(sns.publish(TopicArn=topic_arn, Subject=alert.subject, Message=alert.body())["MessageId"])


def alert_on_failure(
    event: CrawlerStateEvent | JobStateEvent,
    sns: Any,
    dynamodb: Any,
    config: AlertConfig,
    clock: Callable[[], float] = time.time,
) -> Alert | None:
    """Publish the alert a failure event calls for, once per event id; returns it (None if no failure)."""
    alert = alert_for(event, config.streaming_job_name)
    if alert is None:
        return None
    store = StateStore(dynamodb, config.state_table, config.marker_ttl_days)
    if not store.first_delivery("alert", event.id, clock()):
        return None
    try:
        publish(sns, config.topic_arn, alert)
    except Exception:
        store.forget_delivery("alert", event.id)
        raise
    return alert
