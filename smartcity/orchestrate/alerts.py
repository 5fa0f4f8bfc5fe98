"""Failure alerts: decide whether a Glue state change is a failure and say what, when and where the logs are.

A crawler that Failed, a job run that ended FAILED, TIMEOUT, ERROR or STOPPED (a stopped load did not load),
the streaming job ending in any state at all (it is meant to run forever: STOPPED or even SUCCEEDED
means the lake stopped filling), and a data quality evaluation with a failed rule (or that did not run)
are failures.

Delivery is at least once: the alert is published first and its event id marked as alerted after, so a
function that dies in between (a timeout, a kill) leaves no mark and the retry publishes it. The price is a
rare second copy of the same alert (a death right after publishing, or two concurrent deliveries of one
event); the other order (mark, then publish) loses the alert instead, and a lost alert is a failure nobody
sees. Messages fit SNS: the reason is cut once, with a marker, so the whole message stays within
``SNS_MESSAGE_MAX_BYTES``; the subject is one printable line of at most ``SNS_SUBJECT_MAX_CHARS``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from smartcity.orchestrate.config import AlertConfig
from smartcity.orchestrate.coordination import CoordinationTable
from smartcity.orchestrate.events import AlertEvent, CrawlerStateEvent, DataQualityResultsEvent

SNS_SUBJECT_MAX_CHARS = 100
SNS_MESSAGE_MAX_BYTES = 262_144
# Readability bound of the "Why" text: longer reasons (stack traces) are in the logs the alert links to.
REASON_MAX_BYTES = 16_384
_TRUNCATED = " ... [truncated: {shown} of {total} characters shown; see the logs]"


class AlertKind(StrEnum):
    """What failed: the word in the alert's subject and the value of the ``kind`` metric dimension."""

    CRAWLER = "crawler"
    JOB = "job"  # a job run other than the streaming job's: the Redshift load
    STREAMING_JOB = "streaming-job"
    DATA_QUALITY = "data-quality"  # a table's data quality ruleset evaluation failed a rule or failed to run


# Metrics of the failure-alert function (namespace and the ``service`` dimension come from Powertools'
# POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_SERVICE_NAME). Per published alert:
METRIC_ALERTS_PUBLISHED = "AlertsPublished"  # dimensions: service, kind (an AlertKind value)
DIMENSION_KIND = "kind"
METRIC_ETL_FAILURES = "EtlFailures"  # dimension: service; a load or streaming job run failed or ended
METRIC_CRAWLER_FAILURES = "CrawlerFailures"  # dimension: service; a lake crawler failed
METRIC_DATA_QUALITY_FAILURES = "DataQualityFailures"  # dimension: service; a ruleset evaluation failed
FAILURE_METRIC: dict[AlertKind, str] = {
    AlertKind.CRAWLER: METRIC_CRAWLER_FAILURES,
    AlertKind.JOB: METRIC_ETL_FAILURES,
    AlertKind.STREAMING_JOB: METRIC_ETL_FAILURES,
    AlertKind.DATA_QUALITY: METRIC_DATA_QUALITY_FAILURES,
}
# A data quality evaluation run ended in this state when it ran (its rules may still have failed).
DATA_QUALITY_RUN_SUCCEEDED = "SUCCEEDED"

ALERT_MARKER = "alert"  # kind of the state table's seen#alert#<event id> markers

FAILED_JOB_STATES = frozenset({"FAILED", "TIMEOUT", "ERROR", "STOPPED"})
ENDED_JOB_STATES = FAILED_JOB_STATES | {"SUCCEEDED"}


@dataclass(frozen=True)
class Alert:
    """One failure, in words a person on call can act on."""

    kind: AlertKind
    name: str
    state: str
    time: str
    message: str
    logs_url: str
    console_url: str
    run_id: str | None = None

    @property
    def subject(self) -> str:
        """One printable line (SNS refuses line breaks and control characters), cut to the SNS limit."""
        text = f"[smartcity] {self.kind} {self.name} {self.state}"
        return "".join(c if c.isprintable() else " " for c in text)[:SNS_SUBJECT_MAX_CHARS]

    def body(self) -> str:
        """What, when, why and where to look, then the structured fields as one JSON line.

        The reason appears once (in "Why"), cut with a marker so the message fits SNS; the JSON line says
        how long it was.
        """
        fields = {k: v for k, v in asdict(self).items() if k != "message"}
        fields["message_chars"] = len(self.message)
        head = [
            f"What: {self.kind} {self.name} ended {self.state}"
            + (f" (run {self.run_id})" if self.run_id else ""),
            f"When: {self.time}",
        ]
        tail = [
            f"Logs: {self.logs_url}",
            f"Console: {self.console_url}",
            "",
            json.dumps(fields, sort_keys=True),
        ]
        frame = len("\n".join([*head, "Why:  ", *tail]).encode("utf-8"))
        reason = _bounded(self.message, min(REASON_MAX_BYTES, SNS_MESSAGE_MAX_BYTES - frame))
        return "\n".join([*head, f"Why:  {reason or 'no message in the event'}", *tail])


def _bounded(text: str, max_bytes: int) -> str:
    """``text`` if its UTF-8 form fits ``max_bytes``, else its longest prefix that fits with the marker."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    marker = _TRUNCATED.format(shown=len(text), total=len(text))  # the longest the marker can be
    budget = max(0, max_bytes - len(marker.encode("utf-8")))
    shown = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")  # never half a character
    return shown + _TRUNCATED.format(shown=len(shown), total=len(text))


def _cw_logs_url(region: str, group: str, stream: str) -> str:
    # The CloudWatch console escapes '/' in the fragment as '$252F' (a double-encoded '%2F').
    enc = quote(group, safe="").replace("%", "$25")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{enc}/log-events/{quote(stream, safe='')}"
    )


def _data_quality_alert(event: DataQualityResultsEvent, when: str) -> Alert | None:
    """A failed rule or a failed run of a table's ruleset evaluation; None when every rule passed."""
    d, region = event.detail, event.region
    ran = d.state.upper() == DATA_QUALITY_RUN_SUCCEEDED
    if ran and d.rules_failed == 0:
        return None
    ctx = d.context
    table = f"{ctx.database_name}.{ctx.table_name}" if ctx.table_name else "its table"
    db_q, table_q = quote(ctx.database_name or ""), quote(ctx.table_name or "")
    total = d.rules_succeeded + d.rules_failed + d.rules_skipped
    message = (
        f"{d.rules_failed} of {total} rules failed on {table} (score {d.score})"
        if ran
        else f"the evaluation of {table} ended {d.state}"
    )
    return Alert(
        kind=AlertKind.DATA_QUALITY,
        name=",".join(d.ruleset_names),
        state=f"{d.rules_failed}-RULES-FAILED" if ran else d.state,
        time=when,
        message=message + (f"; result {d.result_id}" if d.result_id else ""),
        # Rule by rule, with the offending values: the result's API (or the table's Data quality tab).
        logs_url=f"aws glue get-data-quality-result --result-id {d.result_id or '<none>'} --region {region}",
        console_url=f"https://{region}.console.aws.amazon.com/glue/home?region={region}#/v2/data-catalog/tables/view/{table_q}?database={db_q}",
        run_id=ctx.run_id,
    )


def alert_for(event: AlertEvent, streaming_job: str) -> Alert | None:
    """The alert an event calls for, or None when the state change is not a failure."""
    when = event.time.isoformat().replace("+00:00", "Z")
    region = event.region
    if isinstance(event, DataQualityResultsEvent):
        return _data_quality_alert(event, when)
    if isinstance(event, CrawlerStateEvent):
        d = event.detail
        if d.state.lower() != "failed":
            return None
        return Alert(
            kind=AlertKind.CRAWLER,
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
        kind=AlertKind.STREAMING_JOB if streaming else AlertKind.JOB,
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


@dataclass(frozen=True)
class AlertOutcome:
    """The alert an event called for (None: not a failure) and whether this delivery published it."""

    alert: Alert | None
    published: bool


def alert_on_failure(
    event: AlertEvent,
    sns: Any,
    dynamodb: Any,
    config: AlertConfig,
    clock: Callable[[], float] = time.time,
) -> AlertOutcome:
    """Publish the alert a failure event calls for, at least once per event id (see the module doc)."""
    alert = alert_for(event, config.streaming_job_name)
    if alert is None:
        return AlertOutcome(None, published=False)
    store = CoordinationTable(dynamodb, config.state_table, config.marker_ttl_days)
    if store.delivered(ALERT_MARKER, event.id):
        return AlertOutcome(alert, published=False)
    publish(sns, config.topic_arn, alert)
    store.first_delivery(ALERT_MARKER, event.id, clock())
    return AlertOutcome(alert, published=True)
