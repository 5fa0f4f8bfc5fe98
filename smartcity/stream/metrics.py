"""Per micro-batch metrics: one JSON log line, a JSON file under ``<lake>/_metrics/stream/``, CloudWatch.

The JSON file per step is what the demo and the reconciliation read (cumulative late and enriched
counts), so it is written with the step's deterministic name and overwritten on replay. CloudWatch gets
the same figures through ``put_metric_data`` when a namespace is configured (the Glue entry sets it).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from smartcity.stream.hadoop_fs import HadoopFS, join_uri
from smartcity.stream.stepid import StepId

log = logging.getLogger("smartcity.stream")


@dataclass
class BatchMetrics:
    batch_id: int
    flush: bool
    ingest_time: str
    duration_s: float = 0.0
    rows_in: dict[str, int] = field(default_factory=dict)
    valid: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)
    vehicle_accepted: int = 0
    vehicle_late_distinct: int = 0
    enriched: int = 0
    # Flags raised by the anomaly rules in this step, per rule (smartcity.anomaly.rules.ANOMALY_KINDS).
    anomalies: dict[str, int] = field(default_factory=dict)
    watermark: str | None = None
    max_event_time: str | None = None
    event_time_lag_s: float | None = None
    kafka_offsets_behind: float | None = None
    # Seconds from the step's start until its raw and quarantine files were published (they do not wait
    # for the enrichment); None for a flush.
    raw_visible_s: float | None = None
    totals: dict[str, int] = field(default_factory=dict)
    # What the step cost Spark (``smartcity.stream.engine``): jobs run, classes compiled by code generation.
    spark_jobs: int = 0
    generated_classes: int = 0
    # Requests the step sent to S3 (S3A's own counters, ``HadoopFS.store_requests``) up to its metrics
    # file; None when the lake and checkpoints are not on S3.
    s3_requests: int | None = None
    # Wall seconds per phase of the step (raw+quarantine, plan, state, enrich, publish, ...): where a
    # slow step spends its time, without the Spark UI.
    phases: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"event": "stream_batch", **asdict(self)}, sort_keys=True)


def metrics_uri(lake_uri: str, step: StepId) -> str:
    return join_uri(lake_uri, "_metrics", "stream", f"step-{step.key}.json")


def emit(
    metrics: BatchMetrics,
    *,
    fs: HadoopFS,
    lake_uri: str,
    step: StepId,
    cloudwatch: Any | None = None,
    namespace: str | None = None,
    job_name: str = "smartcity",
) -> None:
    line = metrics.to_json()
    print(line, file=sys.stderr, flush=True)
    fs.write_text(metrics_uri(lake_uri, step), line)
    if cloudwatch is not None and namespace:
        put_cloudwatch(cloudwatch, namespace, job_name, metrics)


def put_cloudwatch(client: Any, namespace: str, job_name: str, m: BatchMetrics) -> None:
    """Send the batch's figures; failures are logged, never fatal (metrics must not stop the data)."""
    dims = [{"Name": "Job", "Value": job_name}]
    data: list[dict[str, Any]] = [
        {"MetricName": "BatchDurationSeconds", "Value": m.duration_s, "Unit": "Seconds", "Dimensions": dims},
        {"MetricName": "EnrichedRows", "Value": m.enriched, "Unit": "Count", "Dimensions": dims},
        {
            "MetricName": "LateVehicleEvents",
            "Value": m.vehicle_late_distinct,
            "Unit": "Count",
            "Dimensions": dims,
        },
    ]
    for rule, n in m.anomalies.items():
        rdims = [*dims, {"Name": "Rule", "Value": rule}]
        data.append({"MetricName": "Anomalies", "Value": n, "Unit": "Count", "Dimensions": rdims})
    for topic, n in m.rows_in.items():
        tdims = [*dims, {"Name": "Topic", "Value": topic}]
        data.append({"MetricName": "RowsIn", "Value": n, "Unit": "Count", "Dimensions": tdims})
        data.append(
            {
                "MetricName": "Quarantined",
                "Value": m.quarantined.get(topic, 0),
                "Unit": "Count",
                "Dimensions": tdims,
            }
        )
    if m.event_time_lag_s is not None:
        data.append(
            {
                "MetricName": "EventTimeLagSeconds",
                "Value": m.event_time_lag_s,
                "Unit": "Seconds",
                "Dimensions": dims,
            }
        )
    if m.kafka_offsets_behind is not None:
        data.append(
            {
                "MetricName": "ConsumerLagOffsets",
                "Value": m.kafka_offsets_behind,
                "Unit": "Count",
                "Dimensions": dims,
            }
        )
    try:
        for i in range(0, len(data), 20):
            client.put_metric_data(Namespace=namespace, MetricData=data[i : i + 20])
    except Exception as exc:
        log.warning("CloudWatch put_metric_data failed: %s", exc)


def read_metrics(fs: HadoopFS, lake_uri: str) -> list[dict[str, Any]]:
    """Every step's metrics, in step order (what the demo and the tests reconcile against)."""
    root = join_uri(lake_uri, "_metrics", "stream")
    out = []
    for name in fs.list_names(root):
        if name.endswith(".json"):
            text = fs.read_text(join_uri(root, name))
            if text:
                out.append(json.loads(text))
    return out
