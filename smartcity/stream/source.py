"""Kafka source options: PLAINTEXT locally, SASL_SSL with AWS_MSK_IAM on MSK (Serverless port 9098).

Spark's own Kafka connector is used in both worlds because quarantine needs the original bytes plus
topic/partition/offset; Glue's ``create_data_frame`` Kafka source parses JSON itself. On Glue the IAM
login module comes from the ``aws-msk-iam-auth`` jar (``--extra-jars``, see glue_streaming/ARGS.md).
"""

from __future__ import annotations

from pyspark.sql import types as T

from smartcity.config import Settings, StreamSettings

# The rows Spark's Kafka source hands ``foreachBatch`` (what a step is given without a broker, in benches
# and tests).
KAFKA_SOURCE_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("timestampType", T.IntegerType()),
    ]
)

MSK_IAM_OPTIONS = {
    "kafka.security.protocol": "SASL_SSL",
    "kafka.sasl.mechanism": "AWS_MSK_IAM",
    "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
}


def kafka_options(settings: Settings, cfg: StreamSettings) -> dict[str, str]:
    topics = ",".join(settings.topics.all().values())
    options = {
        "kafka.bootstrap.servers": settings.kafka.bootstrap_servers,
        "subscribe": topics,
        "startingOffsets": cfg.starting_offsets,
        # A deleted/compacted offset must not stop the city's pipeline; the gap shows in the metrics.
        "failOnDataLoss": "false",
        # Consumer tuning (StreamSettings says why): the "kafka." prefix passes them to the consumers.
        "kafka.fetch.max.wait.ms": str(cfg.kafka_fetch_max_wait_ms),
        "kafka.max.poll.records": str(cfg.kafka_max_poll_records),
        "kafka.max.partition.fetch.bytes": str(cfg.kafka_max_partition_fetch_bytes),
    }
    if cfg.max_offsets_per_trigger:
        options["maxOffsetsPerTrigger"] = str(cfg.max_offsets_per_trigger)
    if settings.kafka.auth == "msk_iam":
        options.update(MSK_IAM_OPTIONS)
    return options
