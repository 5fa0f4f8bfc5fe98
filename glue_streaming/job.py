"""AWS Glue streaming entry (``gluestreaming``, Glue 5.1 = Spark 3.5.6): arguments → ``smartcity.stream``.

Thin on purpose: every transformation lives in the ``smartcity`` package (shipped with
``--extra-py-files``), so this file only reads the job arguments (glue_streaming/ARGS.md), builds the
settings, and runs the same ``StreamJob`` as ``smartcity stream``. GlueContext is created only on AWS
(it needs Glue's JVM jars); locally ``parse_args`` works with awsglue3-local's ``getResolvedOptions``.
"""

from __future__ import annotations

import sys
from typing import Any

from smartcity.config import Settings, Stream, StreamSettings, TopicSettings

_DEFAULTS = StreamSettings()
REQUIRED = ["JOB_NAME", "lake_uri", "checkpoint_uri", "bootstrap_servers", "aws_region"]
# The optional arguments default to the pipeline's and the job's own defaults, so they cannot drift.
OPTIONAL = {
    "topics": ",".join(TopicSettings().for_stream(s) for s in Stream),
    "trigger_interval_s": f"{_DEFAULTS.trigger_interval_s:g}",
    "max_offsets_per_trigger": str(_DEFAULTS.max_offsets_per_trigger),
    "watermark_delay_s": f"{_DEFAULTS.watermark_delay_s:g}",
    "starting_offsets": _DEFAULTS.starting_offsets,
    "cell_size_deg": f"{_DEFAULTS.cell_size_deg:g}",
    "kafka_auth": "msk_iam",
    "cloudwatch_namespace": "SmartCity/Streaming",
}


def parse_args(argv: list[str]) -> dict[str, str]:
    """Required and optional job arguments (Glue passes ``--name value``; optional ones may be absent)."""
    from awsglue.utils import getResolvedOptions

    present = [name for name in OPTIONAL if f"--{name}" in argv]
    args = dict(OPTIONAL)
    args.update(getResolvedOptions(argv, REQUIRED + present))
    return args


def build(args: dict[str, str]) -> tuple[Any, Any]:
    """The settings and their streaming section from the arguments (no Spark needed: testable anywhere)."""
    names = [t.strip() for t in args["topics"].split(",")]
    if len(names) != len(Stream):
        raise ValueError(f"--topics needs {len(Stream)} names in the order {[s.value for s in Stream]}")
    settings = Settings(
        profile="aws",
        aws_region=args["aws_region"],
        lake_uri=args["lake_uri"],
        checkpoint_uri=args["checkpoint_uri"],
        glue_streaming_job=args["JOB_NAME"],
        kafka={
            "bootstrap_servers": args["bootstrap_servers"],
            "auth": args["kafka_auth"],
            "aws_region": args["aws_region"],
        },
        topics=dict(zip([s.value for s in Stream], names, strict=True)),
        stream=_DEFAULTS.with_overrides(
            trigger_interval_s=float(args["trigger_interval_s"]),
            max_offsets_per_trigger=int(args["max_offsets_per_trigger"]),
            watermark_delay_s=float(args["watermark_delay_s"]),
            starting_offsets=args["starting_offsets"],
            cell_size_deg=float(args["cell_size_deg"]),
            cloudwatch_namespace=args["cloudwatch_namespace"] or None,
            flush_on_drain=False,
        ),
    )
    return settings, settings.stream


def main(argv: list[str]) -> None:  # pragma: no cover - runs only inside AWS Glue
    import boto3
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from pyspark.context import SparkContext

    from smartcity.stream.job import StreamJob

    args = parse_args(argv)
    settings, cfg = build(args)
    sc = SparkContext.getOrCreate()
    glue_context = GlueContext(sc)
    spark = glue_context.spark_session
    # The lake's dt/hour partitions are UTC; Glue's session zone is not forced to UTC.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    cloudwatch = boto3.client("cloudwatch", region_name=settings.aws_region)
    StreamJob(spark, settings, cfg, cloudwatch=cloudwatch, job_name=args["JOB_NAME"]).run()
    job.commit()


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv)
