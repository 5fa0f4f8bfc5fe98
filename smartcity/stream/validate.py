"""Parse + validate Kafka messages against the contract: valid rows in raw-table shape, or quarantine.

Two paths, one verdict. The fast path is native Spark, generated from the contract metadata
(``message_fields`` / ``field_constraints``): it accepts a message only when every field has the JSON
token type, format and range the contract demands, in the canonical shapes producers send. Anything it
does not accept goes to the arbiter, the contract's own ``parse_event`` in a Python UDF, which either
accepts it (an unusual but valid shape, e.g. a ``"lat,lon"`` with unicode spaces) or returns the
contract's reason ``"<kind>: <field> <detail>"``. So the fast path only has to be *sound* (never accept
what ``parse_event`` rejects, and produce the same values), the reasons are the contract's own text, and
the Python cost is paid only for the few rejects. tests/unit/test_stream_validate.py checks both paths
against ``parse_event`` on a corpus of good and bad messages.

Why not pure native reasons: Spark's JSON reader renders numbers, booleans and strings all as text in a
``map<string,string>`` and coerces silently in typed schemas, so re-deriving pydantic's exact first-error
order and wording natively would duplicate the contract instead of using it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from smartcity.config import Stream
from smartcity.contract import (
    ContractViolation,
    field_constraints,
    message_fields,
    parse_event,
    raw_columns,
    snake_case,
    spark_schema,
)
from smartcity.stream.geo import cell_id

# A JSON number as Spark re-serialises it inside arrays/objects, and a number Python's float() accepts
# (the subset both agree on; anything else goes to the arbiter).
_JNUM = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_PYNUM = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_LOC_TEXT = rf"^\s*({_PYNUM})\s*,\s*({_PYNUM})\s*$"
_LOC_TEXT_PAREN = rf"^\s*\(\s*({_PYNUM})\s*,\s*({_PYNUM})\s*\)\s*$"
_LOC_ARRAY = rf"^\[({_JNUM}),({_JNUM})\]$"
_LOC_OBJ_LATLON = rf'^\{{"lat":({_JNUM}),"lon":({_JNUM})\}}$'
_LOC_OBJ_LONLAT = rf'^\{{"lon":({_JNUM}),"lat":({_JNUM})\}}$'
# ISO-8601 extended forms on which Spark's cast and Python's datetime.fromisoformat agree.
_TS = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
# Text Spark produces for a non-string JSON token (number, bool, object, array, NaN/Infinity literals):
# a string field whose text looks like this must be confirmed as a quoted token in the raw message.
_MAYBE_NOT_STRING = r'^(?:-?[0-9]|\{|\[|"|true$|false$|null$|NaN$|[+-]?Infinity$|[+-]?INF$)'
_SPARK_TYPES = {
    "string": T.StringType(),
    "double": T.DoubleType(),
    "int": T.LongType(),
    "timestamp": T.StringType(),
    "location": T.StringType(),
}

QUARANTINE_COLUMNS = (
    "topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
    "raw_value",
    "error",
    "ingest_time",
)


@dataclass(frozen=True)
class Validated:
    """One stream's batch after validation: ``frame`` holds every message, ``error`` null when valid."""

    stream: Stream
    frame: DataFrame
    # Intermediate frames cached for this batch; ``release`` once ``frame`` is materialised or done.
    cached: tuple[DataFrame, ...] = ()

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()

    @property
    def valid(self) -> DataFrame:
        """Rows in the raw table's column order (partition columns ``dt``/``hour`` added)."""
        return self.frame.where(F.col("error").isNull()).select(*raw_column_names(self.stream), "dt", "hour")

    @property
    def quarantined(self) -> DataFrame:
        """Rejected rows in the quarantine table's column order, plus its partition column ``dt`` (ingest)."""
        return self.frame.where(F.col("error").isNotNull()).select(*QUARANTINE_COLUMNS, "dt")


def raw_column_names(stream: Stream) -> list[str]:
    return [c.name for c in raw_columns(stream)]


def _java_pattern(pattern: str) -> str:
    # Java's "$" also matches before a final newline; pydantic's (Rust) regex does not.
    return pattern[:-1] + r"\z" if pattern.endswith("$") else pattern


def _quoted_text(raw: Column, name: str) -> Column:
    """The characters of a top-level ``"name": "..."`` string token without escapes, else ''."""
    return F.regexp_extract(raw, rf'"{re.escape(name)}"\s*:\s*"((?:[^"\\]|\\.)*)"', 1)


def _is_string_token(raw: Column, text: Column, name: str) -> Column:
    """True only when the field's JSON token is certainly a string (sound, may say False for odd strings).

    Cheapest test first (Spark's ``Or`` short-circuits): text that cannot be a number, literal, object or
    array; then a plain substring search for the pair ``"name":"text"`` (compact or ``json.dumps``'
    ``": "``), which costs a fraction of a regex over the message. Outside string literals every ``"`` in
    valid JSON delimits a token, so that substring is a key with a string value; it could only be a
    nested key if some field held an object or array, and every such message fails another native check
    (so the arbiter judges it). Last, the regex for other spacing.
    """
    compact = raw.contains(F.concat(F.lit(f'"{name}":"'), text, F.lit('"')))
    spaced = raw.contains(F.concat(F.lit(f'"{name}": "'), text, F.lit('"')))
    return ~text.rlike(_MAYBE_NOT_STRING) | compact | spaced | (_quoted_text(raw, name) == text)


def _location_stages(raw: Column, text: Column) -> list[list[Column]]:
    """``latitude``/``longitude`` and ``_loc_ok`` for the canonical location shapes (else not ok).

    Five stages of plain columns (the caller merges the first, the location's text, into its own first
    stage), so each regex runs at most once per row (a single nested expression made Spark re-evaluate
    the shared parts per branch: 10x slower).
    """
    lt = F.col("_lt")
    # Bracketed text is an array/object token unless the raw message has it as a quoted string.
    ls = F.col("_ls")
    shapes = [
        (ls & lt.rlike(_LOC_TEXT), _LOC_TEXT, 1, 2),
        (ls & lt.rlike(_LOC_TEXT_PAREN), _LOC_TEXT_PAREN, 1, 2),
        (~ls & lt.rlike(_LOC_ARRAY), _LOC_ARRAY, 1, 2),
        (~ls & lt.rlike(_LOC_OBJ_LATLON), _LOC_OBJ_LATLON, 1, 2),
        (~ls & lt.rlike(_LOC_OBJ_LONLAT), _LOC_OBJ_LONLAT, 2, 1),
    ]
    shape = F.lit(None).cast("int")
    for i, (cond, *_rest) in reversed(list(enumerate(shapes))):
        shape = F.when(cond, F.lit(i)).otherwise(shape)
    lat_text = F.lit(None).cast("string")
    lon_text = F.lit(None).cast("string")
    for i, (_c, pattern, g_lat, g_lon) in enumerate(shapes):
        lat_text = F.when(F.col("_lshape") == i, F.regexp_extract(lt, pattern, g_lat)).otherwise(lat_text)
        lon_text = F.when(F.col("_lshape") == i, F.regexp_extract(lt, pattern, g_lon)).otherwise(lon_text)
    lat, lon = F.col("latitude"), F.col("longitude")
    ok = lat.between(-90.0, 90.0) & lon.between(-180.0, 180.0) & ~F.isnan(lat) & ~F.isnan(lon)
    return [
        [text.alias("_lt")],
        [(~lt.rlike(r"^[\[{]") | (_quoted_text(raw, "location") == lt)).alias("_ls")],
        [shape.alias("_lshape")],
        [lat_text.cast("double").alias("latitude"), lon_text.cast("double").alias("longitude")],
        [F.coalesce(ok, F.lit(False)).alias("_loc_ok")],
    ]


def _fast_path_stages(stream: Stream) -> tuple[list[list[Column]], list[str]]:
    """The native verdict as stages of columns: each stage is added with one ``select("*", ...)``.

    The last stage adds ``_ok``; the others add the parsed JSON (``_m``, ``_t``) and the value columns
    (returned as the second item). The future-timestamp limit is the column ``_limit``, so the stages do
    not depend on the batch and are built once per stream (see ``_recipe``).
    """
    raw = F.col("raw_value")
    fields = message_fields(stream)
    constraints = field_constraints(stream)
    typed_schema = T.StructType([T.StructField(n, _SPARK_TYPES[t]) for n, t, _ in fields])
    # Parse once per row into columns; every check below reads these columns.
    parse = [F.from_json(raw, "map<string,string>").alias("_m"), F.from_json(raw, typed_schema).alias("_t")]
    m, typed = F.col("_m"), F.col("_t")
    checks: list[Column] = [m.isNotNull(), F.instr(raw, "\ufffd") == 0, raw.rlike(r"\}\s*$")]
    values: list[str] = []
    plain: list[Column] = []  # value columns that depend on the parse alone
    location: list[list[Column]] = []
    for name, ftype, required in fields:
        text = m.getItem(name)
        present = text.isNotNull()
        if required:
            checks.append(present)
        limits = constraints.get(name, {})
        if ftype == "location":
            location = _location_stages(raw, text)
            ok = F.col("_loc_ok")
            values += ["latitude", "longitude"]
        elif ftype == "timestamp":
            plain.append(text.cast("timestamp").alias("event_time"))
            ts = F.col("event_time")
            ok = (
                _is_string_token(raw, text, name) & text.rlike(_TS) & ts.isNotNull() & (ts <= F.col("_limit"))
            )
            values.append("event_time")
        else:
            column = snake_case(name)
            value = typed.getField(name)
            if ftype == "string":
                ok = value.isNotNull() & _is_string_token(raw, text, name)
                if "min_length" in limits:
                    ok &= F.char_length(value) >= limits["min_length"]
                if "max_length" in limits:
                    ok &= F.char_length(value) <= limits["max_length"]
                if "pattern" in limits:
                    ok &= value.rlike(_java_pattern(limits["pattern"]))
                if "enum" in limits:
                    ok &= value.isin(list(limits["enum"]))
            else:  # double / int
                ok = value.isNotNull() & ~F.isnan(value.cast("double"))
                if "minimum" in limits:
                    ok &= value >= F.lit(limits["minimum"])
                if "maximum" in limits:
                    ok &= value <= F.lit(limits["maximum"])
                if ftype == "int":
                    value = value.cast("int")
            plain.append(value.alias(column))
            values.append(column)
        ok = F.coalesce(ok, F.lit(False))
        checks.append(ok if required else (~present | ok))
    accepted = checks[0]
    for check in checks[1:]:
        accepted = accepted & check
    # The location's first stage (its text) rides with the plain values; the rest follow in order.
    first = plain + (location[0] if location else [])
    stages = [parse, first, *location[1:], [F.coalesce(accepted, F.lit(False)).alias("_ok")]]
    return stages, values


def _message_struct(stream: Stream) -> T.StructType:
    """The UDF's return type: ``error`` then the message columns (raw columns without derived/provenance)."""
    names = [
        c
        for c in raw_columns(stream)
        if c.name not in ("cell_id", "kafka_partition", "kafka_offset", "ingest_time")
    ]
    # Every field nullable: a rejected message has only its error.
    schema = spark_schema([replace(c, nullable=True) for c in names])
    return T.StructType([T.StructField("error", T.StringType()), *schema.fields])


def arbiter_row(stream: Stream, raw: bytes | None, now: datetime, max_future_s: float) -> dict[str, Any]:
    """``parse_event``'s verdict as a row: ``{"error": reason}`` or the message's values (no error).

    It gets the original bytes, so invalid UTF-8 is judged by the contract, not by Spark's decoding.
    """
    if raw is None:
        return {"error": "invalid_json: $ message has no value (Kafka tombstone)"}
    try:
        event = parse_event(stream, bytes(raw), now=now, max_future=timedelta(seconds=max_future_s))
    except ContractViolation as exc:
        return {"error": str(exc)}
    row: dict[str, Any] = {"error": None}
    for name, ftype, _ in message_fields(stream):
        value = getattr(event, name)
        if ftype == "location":
            row["latitude"], row["longitude"] = (None, None) if value is None else value
        elif ftype == "timestamp":
            row["event_time"] = value
        else:
            row[snake_case(name)] = value
    return row


@dataclass(frozen=True)
class _Recipe:
    """One stream's validation as ready-made columns, applied to every batch with a few ``select``s.

    Building the columns costs thousands of py4j calls for five streams (seconds of driver time per
    micro-batch, more than validating a small batch takes); the columns are unresolved expressions that
    do not depend on the batch (its instant arrives as the columns ``_now`` and ``_limit``), so they are
    built once per stream and settings and reused.
    """

    base: list[Column]
    stages: list[list[Column]]
    flagged: list[str]
    fast: list[Column]
    slow_input: list[str]
    arbiter: Column
    slow: list[Column]
    shape: list[Column]  # the frame's columns in order, with cell_id and ingest_time
    partitions: list[Column]  # dt, hour


_KEEP = [c for c in QUARANTINE_COLUMNS if c not in ("error", "ingest_time")] + ["_now"]
_RECIPES: dict[tuple[Stream, float, float, int], _Recipe] = {}


def _arbiter_udf(stream: Stream, max_future_s: float) -> Any:
    """``arbiter_row`` as a UDF of (original bytes, batch instant in µs since the epoch)."""
    stream_value = stream.value

    def arbiter(raw_value: bytes | None, now_us: int) -> dict[str, Any]:
        now = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=now_us)
        return arbiter_row(Stream(stream_value), raw_value, now, max_future_s)

    return F.udf(arbiter, _message_struct(stream))


def _build_recipe(stream: Stream, max_future_s: float, cell_size_deg: float) -> _Recipe:
    base = [
        F.col("topic"),
        F.col("partition").cast("int").alias("kafka_partition"),
        F.col("offset").cast("bigint").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("value").cast("string").alias("raw_value"),
        F.col("value").alias("_bytes"),
    ]
    stages, values = _fast_path_stages(stream)
    message_names = [f.name for f in _message_struct(stream).fields if f.name != "error"]
    arbiter = _arbiter_udf(stream, max_future_s)(F.col("_bytes"), F.unix_micros(F.col("_now"))).alias("_r")
    keep = [c for c in _KEEP if c != "_now"]
    shape = [*map(F.col, keep), F.col("error"), *map(F.col, values)]
    if "latitude" in values:
        shape.append(cell_id(F.col("latitude"), F.col("longitude"), cell_size_deg).alias("cell_id"))
    shape.append(F.col("_now").alias("ingest_time"))
    # Raw tables partition by event time, quarantine by ingest time (issue 4).
    part_ts = F.coalesce(F.col("event_time"), F.col("ingest_time"))
    partitions = [
        F.when(F.col("error").isNull(), F.date_format(part_ts, "yyyy-MM-dd"))
        .otherwise(F.date_format(F.col("ingest_time"), "yyyy-MM-dd"))
        .alias("dt"),
        F.date_format(part_ts, "HH").alias("hour"),
    ]
    return _Recipe(
        base=base,
        stages=stages,
        flagged=[*_KEEP, "_bytes", "_ok", *values],
        fast=[*map(F.col, _KEEP), F.lit(None).cast("string").alias("error"), *map(F.col, values)],
        slow_input=[*_KEEP, "_bytes"],
        arbiter=arbiter,
        slow=[
            *map(F.col, _KEEP),
            F.col("_r.error").alias("error"),
            *[F.col(f"_r.{n}").alias(n) for n in message_names],
        ],
        shape=shape,
        partitions=partitions,
    )


def _recipe(stream: Stream, max_future_s: float, cell_size_deg: float) -> _Recipe:
    from pyspark import SparkContext

    # Columns live in the JVM behind the py4j gateway: a new gateway (rare: a new JVM) needs new ones.
    key = (stream, max_future_s, cell_size_deg, id(SparkContext._gateway))
    recipe = _RECIPES.get(key)
    if recipe is None:
        recipe = _RECIPES[key] = _build_recipe(stream, max_future_s, cell_size_deg)
    return recipe


def validate(
    kafka_rows: DataFrame,
    stream: Stream,
    *,
    ingest_time: datetime,
    max_future_s: float,
    cell_size_deg: float,
    cache: bool = True,
) -> Validated:
    """Validate the rows of one topic.

    ``kafka_rows`` has the Kafka source's columns (``topic``, ``partition``, ``offset``, ``timestamp``,
    ``value``); ``ingest_time`` is fixed per micro-batch (and reused when a batch is replayed), so a
    replay produces the same verdicts, the same future-timestamp cut and the same partitions.
    """
    now = ingest_time if ingest_time.tzinfo else ingest_time.replace(tzinfo=UTC)
    recipe = _recipe(stream, max_future_s, cell_size_deg)
    # Aware datetimes become the same instant whatever the JVM/session zone (Glue's is not forced to UTC).
    df = kafka_rows.select(
        *recipe.base,
        F.lit(now).cast("timestamp").alias("_now"),
        F.lit(now + timedelta(seconds=max_future_s)).cast("timestamp").alias("_limit"),
    )
    for stage in recipe.stages:
        df = df.select("*", *stage)
    # Checkpoint the verdict as one column set so the fast and slow branches share the parsed columns.
    # Persisted: otherwise Spark pushes the `_ok` filters below the projections and inlines the whole
    # verdict expression, parsing the JSON once per field reference (measured 10x slower).
    # ``cache=False`` for input known to be empty: an uncached plan over an empty relation is pruned to
    # nothing by the optimizer, where a cached one still runs every job.
    flagged = df.select(*recipe.flagged)
    if cache:
        flagged = flagged.persist(StorageLevel.MEMORY_AND_DISK)
    fast = flagged.where("_ok").select(*recipe.fast)
    slow = flagged.where("NOT _ok").select(*recipe.slow_input, recipe.arbiter).select(*recipe.slow)
    both = fast.unionByName(slow).select(*recipe.shape).select("*", *recipe.partitions)
    return Validated(stream, both, (flagged,) if cache else ())
