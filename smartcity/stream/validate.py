"""Parse + validate Kafka messages against the contract: valid rows in raw-table shape, or quarantine.

One path, the contract itself: every message is judged by ``parse_event`` (pydantic, the same code the
simulator, the tests and the docs use), run in the Python workers on Arrow batches (``mapInArrow``), and
its verdict becomes the row: the parsed values, or the contract's reason ``"<kind>: <field> <detail>"``
for the quarantine. Spark adds only what it does natively and cheaply (the text of the bytes, the grid
cell, the partitions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from smartcity.config import Stream
from smartcity.contract import (
    ContractViolation,
    message_fields,
    parse_event,
    raw_columns,
    snake_case,
    spark_schema,
)
from smartcity.stream.derived_columns import cell_id

QUARANTINE_COLUMNS = (
    "topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "raw_value",
    "error",
    "ingest_time",
)
# Kafka columns handed to the Python workers and passed back untouched (the bytes only for rejects).
_PROVENANCE = ("topic", "kafka_partition", "kafka_offset", "kafka_timestamp")
_TIMESTAMP = pa.timestamp("us", tz="UTC")  # Spark's timestamps in Arrow
TOMBSTONE = "invalid_json: $ message has no value (Kafka tombstone)"


@dataclass(frozen=True)
class Validated:
    """One stream's batch after validation: ``frame`` holds every message, ``error`` null when valid and
    ``late`` true when a valid message's event time is behind the step's starting watermark."""

    stream: Stream
    frame: DataFrame

    @cached_property  # each DataFrame built costs the driver an analysis of the plan: build it once
    def valid(self) -> DataFrame:
        """Rows in the raw table's column order (partition columns ``dt``/``hour`` added), then ``late``
        (for the step's counts; not a column of the table)."""
        return self.frame.where(F.col("error").isNull()).select(
            *raw_column_names(self.stream), "dt", "hour", "late"
        )

    @cached_property
    def quarantined(self) -> DataFrame:
        """Rejected rows in the quarantine table's column order, plus its partition column ``dt`` (ingest)."""
        return self.frame.where(F.col("error").isNotNull()).select(*QUARANTINE_COLUMNS, "dt")


def raw_column_names(stream: Stream) -> list[str]:
    return [c.name for c in raw_columns(stream)]


def _message_struct(stream: Stream) -> T.StructType:
    """The verdict's columns: ``error`` then the message's (raw columns without derived/provenance ones)."""
    names = [
        c
        for c in raw_columns(stream)
        if c.name not in ("cell_id", "kafka_partition", "kafka_offset", "ingest_time")
    ]
    # Every field nullable: a rejected message has only its error.
    schema = spark_schema([replace(c, nullable=True) for c in names])
    return T.StructType([T.StructField("error", T.StringType()), *schema.fields])


def _judged_struct(streams: Collection[Stream]) -> T.StructType:
    """What the Python workers return for messages of ``streams``: the Kafka provenance, the bytes of
    rejects, the error, then every stream's message columns (one column per name; a stream's rows leave
    the other streams' columns null)."""
    fields = [
        T.StructField("topic", T.StringType()),
        T.StructField("kafka_partition", T.IntegerType()),
        T.StructField("kafka_offset", T.LongType()),
        T.StructField("kafka_timestamp", T.TimestampType()),
        T.StructField("_bytes", T.BinaryType()),
        T.StructField("ingest_time", T.TimestampType()),
        T.StructField("late", T.BooleanType()),
    ]
    seen: dict[str, T.DataType] = {}
    for stream in streams:
        for f in _message_struct(stream).fields:
            if f.name in seen:
                if seen[f.name] != f.dataType:  # the contract keeps one type per column name
                    raise ValueError(f"column {f.name} has two types: {seen[f.name]} and {f.dataType}")
                continue
            seen[f.name] = f.dataType
            fields.append(f)
    return T.StructType(fields)


def _field_plan(stream: Stream) -> list[tuple[str, str, str]]:
    """``(json name, contract type, lake column)`` per message field (a location fills two columns)."""
    return [(name, ftype, snake_case(name)) for name, ftype, _ in message_fields(stream)]


def _judge_into(
    stream: Stream,
    messages: list[bytes | None],
    rows: list[int],
    columns: dict[str, list[Any]],
    now: datetime,
    max_future: timedelta,
) -> None:
    """``parse_event``'s verdict for ``messages[i]``, i in ``rows``, written to ``columns[...][i]``:
    ``error`` (None when valid) and the message's lake columns (left None for a reject).

    ``parse_event`` gets the original bytes, so invalid UTF-8 is judged by the contract, not by a decoder
    upstream; a Kafka tombstone (no value) is invalid JSON.
    """
    errors = columns["error"]
    # Per field: its JSON name and the column(s) its value goes to (a location fills two).
    targets: list[tuple[str, list[Any], list[Any] | None]] = []
    for name, ftype, column in _field_plan(stream):
        if ftype == "location":
            targets.append((name, columns["latitude"], columns["longitude"]))
        else:
            targets.append((name, columns["event_time" if ftype == "timestamp" else column], None))
    for i in rows:
        raw = messages[i]
        if raw is None:
            errors[i] = TOMBSTONE
            continue
        try:
            event = parse_event(stream, raw, now=now, max_future=max_future)
        except ContractViolation as exc:
            errors[i] = str(exc)
            continue
        for name, first, second in targets:
            value = getattr(event, name)
            if second is None:
                first[i] = value
            elif value is not None:
                first[i], second[i] = value


def _judge_batches(
    streams: Mapping[str, Stream] | Stream, now_us: int, max_future_s: float, watermark_us: int | None
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: Kafka rows in, provenance + verdict out (see ``_judged_struct``).

    ``streams`` maps each topic to its stream, or is the one stream of every row. The step's instants
    (ingest time, watermark) are values of this function, not of the Spark plan, so the plans Spark
    compiles are the same for every step.
    """
    single = streams if isinstance(streams, Stream) else None
    by_topic = {} if single is not None else dict(streams)  # type: ignore[arg-type]
    schema = to_arrow_schema(_judged_struct([single] if single is not None else list(by_topic.values())))
    now = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=now_us)
    max_future = timedelta(seconds=max_future_s)
    value_fields = [f for f in schema if f.name not in (*_PROVENANCE, "_bytes", "ingest_time", "late")]

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            raw = batch.column("_bytes")
            messages = raw.to_pylist()
            n = len(messages)
            columns: dict[str, list[Any]] = {f.name: [None] * n for f in value_fields}
            rows_of: dict[Stream, list[int]] = defaultdict(list)
            if single is not None:
                rows_of[single] = list(range(n))
            else:
                for i, topic in enumerate(batch.column("topic").to_pylist()):
                    if topic not in by_topic:  # the job subscribes to exactly these topics
                        raise ValueError(f"message from topic {topic!r}, which is not one of the streams'")
                    rows_of[by_topic[topic]].append(i)
            for stream, rows in rows_of.items():
                _judge_into(stream, messages, rows, columns, now, max_future)
            error = pa.array(columns["error"], pa.string())
            # The original bytes go back only for rejects (the quarantine keeps them); valid rows' are
            # not needed downstream.
            kept = pc.if_else(pc.is_valid(error), raw, pa.nulls(n, pa.binary()))
            event_us = pc.cast(pa.array(columns["event_time"], _TIMESTAMP), pa.int64())
            late = (
                pa.repeat(pa.scalar(False), n)
                if watermark_us is None
                else pc.fill_null(pc.less(event_us, watermark_us), False)
            )
            ingest = pa.repeat(pa.scalar(now_us, _TIMESTAMP), n)
            arrays = [batch.column(name) for name in _PROVENANCE] + [kept, ingest, late, error]
            arrays += [pa.array(columns[f.name], f.type) for f in value_fields[1:]]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    return run


def judge(
    kafka_rows: DataFrame,
    streams: Mapping[str, Stream] | Stream,
    *,
    ingest_time: datetime,
    max_future_s: float,
    watermark: datetime | None = None,
) -> DataFrame:
    """Every message's verdict, in one pass over the Kafka rows (persist it: ``stream_frame`` reads it).

    ``kafka_rows`` has the Kafka source's columns (``topic``, ``partition``, ``offset``, ``timestamp``,
    ``value``); ``streams`` maps each topic to its stream (or is the one stream of every row). One
    Python pass for all topics: each Python task has a fixed cost (worker hand-off, unpickling the
    function), which five per-topic passes paid five times per partition. ``ingest_time`` is fixed per
    micro-batch (and reused when a batch is replayed), so a replay produces the same verdicts and the
    same future-timestamp cut. A valid message is ``late`` when its event time is before ``watermark``.
    """
    now_us = epoch_micros(ingest_time)
    watermark_us = None if watermark is None else epoch_micros(watermark)
    names = [streams] if isinstance(streams, Stream) else list(streams.values())
    return kafka_rows.select(
        F.col("topic"),
        F.col("partition").cast("int").alias("kafka_partition"),
        F.col("offset").cast("bigint").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("value").alias("_bytes"),
    ).mapInArrow(_judge_batches(streams, now_us, max_future_s, watermark_us), _judged_struct(names))


def epoch_micros(value: datetime) -> int:
    """Microseconds since the epoch of an instant (a naive datetime is taken as UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def stream_frame(judged: DataFrame, stream: Stream, *, cell_size_deg: float) -> Validated:
    """One stream's rows of ``judged`` (already filtered to its topic) in the validated frame's shape:
    provenance, ``raw_value``, ``error``, ``late``, the message columns, ``cell_id``, ``ingest_time``,
    ``dt``/``hour``.
    """
    values = [f.name for f in _message_struct(stream).fields if f.name != "error"]
    shape = [
        *map(F.col, _PROVENANCE),
        F.col("_bytes").cast("string").alias("raw_value"),
        F.col("error"),
        F.col("late"),
        *map(F.col, values),
    ]
    if "latitude" in values:
        shape.append(cell_id(F.col("latitude"), F.col("longitude"), cell_size_deg).alias("cell_id"))
    shape.append(F.col("ingest_time"))
    # Raw tables partition by event time, quarantine by ingest time.
    part_ts = F.coalesce(F.col("event_time"), F.col("ingest_time"))
    partitions = [
        F.when(F.col("error").isNull(), F.date_format(part_ts, "yyyy-MM-dd"))
        .otherwise(F.date_format(F.col("ingest_time"), "yyyy-MM-dd"))
        .alias("dt"),
        F.date_format(part_ts, "HH").alias("hour"),
    ]
    return Validated(stream, judged.select(*shape).select("*", *partitions))


def validate(
    kafka_rows: DataFrame,
    stream: Stream,
    *,
    ingest_time: datetime,
    max_future_s: float,
    cell_size_deg: float,
) -> Validated:
    """Validate rows that are all messages of ``stream`` (one topic's rows): ``judge`` + ``stream_frame``."""
    judged = judge(kafka_rows, stream, ingest_time=ingest_time, max_future_s=max_future_s)
    return stream_frame(judged, stream, cell_size_deg=cell_size_deg)
