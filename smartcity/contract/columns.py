"""Lake table columns, generated from the models: no other module spells a field name again.

Raw tables hold the message fields in snake_case, with ``timestamp`` as ``event_time`` and ``location``
split into ``latitude``/``longitude`` plus the derived grid ``cell_id``, then Kafka provenance. The
enriched table reuses those column specs under its public names (docs/contract.md), so a type change in a
model propagates to every table, the catalog and the warehouse DDL.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_origin

from smartcity.config import Stream
from smartcity.contract.models import MODELS

ColumnType = Literal["string", "double", "int", "bigint", "timestamp", "boolean"]
# Message field types as the streaming job sees them in JSON: the column types plus "location".
FieldType = Literal["string", "double", "int", "timestamp", "location"]

PARTITION_KEYS: tuple[str, ...] = ("dt", "hour")
QUARANTINE_PARTITION_KEYS: tuple[str, ...] = ("dt",)


@dataclass(frozen=True)
class ColumnSpec:
    """One lake column. ``max_length`` only sizes Redshift VARCHARs (long text such as ``raw_value``)."""

    name: str
    type: ColumnType
    nullable: bool
    description: str
    max_length: int | None = None


def snake_case(name: str) -> str:
    """``deviceId`` → ``device_id``, ``airQualityIndex`` → ``air_quality_index``."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _field_type(annotation: Any) -> FieldType:
    if annotation is datetime:
        return "timestamp"
    if get_origin(annotation) is tuple:
        return "location"
    if annotation is float:
        return "double"
    if annotation is int:
        return "int"
    return "string"  # str and Literal[...] of strings


def message_fields(stream: Stream) -> list[tuple[str, FieldType, bool]]:
    """``(json_name, type, required)`` per message field, in model order."""
    return [
        (name, _field_type(info.annotation), info.is_required())
        for name, info in MODELS[stream].model_fields.items()
    ]


@functools.cache
def _json_properties(stream: Stream) -> dict[str, Any]:
    """The model's JSON Schema properties. Cached: the streaming job asks for column specs (hence
    constraints) hundreds of times per micro-batch, and each schema is generated anew otherwise."""
    return MODELS[stream].model_json_schema()["properties"]


def field_constraints(stream: Stream) -> dict[str, dict[str, Any]]:
    """Per JSON field: ``minimum``/``maximum``, ``enum``, ``pattern``, ``min_length``/``max_length``.

    Read from the model's JSON Schema so the bounds are those pydantic enforces, not a copy.
    """
    props = _json_properties(stream)
    out: dict[str, dict[str, Any]] = {}
    for name, schema in props.items():
        found = {
            key: schema[src]
            for src, key in (
                ("minimum", "minimum"),
                ("maximum", "maximum"),
                ("enum", "enum"),
                ("pattern", "pattern"),
                ("minLength", "min_length"),
                ("maxLength", "max_length"),
            )
            if src in schema
        }
        if "const" in schema:
            found["enum"] = [schema["const"]]
        if found:
            out[name] = found
    return out


def _description(stream: Stream, name: str) -> str:
    info = MODELS[stream].model_fields[name]
    return info.description or ""


def _max_length(stream: Stream, name: str) -> int | None:
    limit = field_constraints(stream).get(name, {}).get("max_length")
    return int(limit) if limit is not None and limit > 256 else None


PROVENANCE = (
    ColumnSpec("kafka_partition", "int", False, "Kafka partition the message was read from"),
    ColumnSpec("kafka_offset", "bigint", False, "Kafka offset of the message"),
    ColumnSpec("ingest_time", "timestamp", False, "When the streaming job read the message (UTC)"),
)


def raw_columns(stream: Stream) -> list[ColumnSpec]:
    """Columns of ``raw/<stream>/`` (partition keys ``dt``/``hour`` not included)."""
    columns: list[ColumnSpec] = []
    for name, ftype, required in message_fields(stream):
        nullable = not required
        if ftype == "timestamp":
            columns.append(
                ColumnSpec("event_time", "timestamp", nullable, "Event time from 'timestamp' (UTC)")
            )
        elif ftype == "location":
            columns += [
                ColumnSpec("latitude", "double", nullable, "WGS84 latitude from 'location'"),
                ColumnSpec("longitude", "double", nullable, "WGS84 longitude from 'location'"),
                ColumnSpec("cell_id", "string", nullable, "Grid cell 'floor(lat/s):floor(lon/s)'"),
            ]
        else:
            columns.append(
                ColumnSpec(
                    snake_case(name), ftype, nullable, _description(stream, name), _max_length(stream, name)
                )
            )
    return columns + list(PROVENANCE)


def quarantine_columns() -> list[ColumnSpec]:
    """Columns of ``quarantine/`` (partitioned by ingest ``dt`` only)."""
    return [
        ColumnSpec("topic", "string", False, "Kafka topic of the rejected message"),
        ColumnSpec("kafka_partition", "int", False, "Kafka partition"),
        ColumnSpec("kafka_offset", "bigint", False, "Kafka offset"),
        ColumnSpec("kafka_timestamp", "timestamp", True, "Kafka record timestamp (UTC)"),
        ColumnSpec("raw_value", "string", True, "The original message bytes as text", 65535),
        ColumnSpec("error", "string", False, "Reason '<kind>: <field> <detail>'", 4096),
        ColumnSpec("ingest_time", "timestamp", False, "When the streaming job read the message (UTC)"),
    ]


def _col(stream: Stream, name: str, rename: str | None = None, *, nullable: bool | None = None) -> ColumnSpec:
    spec = next(c for c in raw_columns(stream) if c.name == name)
    return replace(spec, name=rename or name, nullable=spec.nullable if nullable is None else nullable)


# The vehicle's own columns carried into vehicle_enriched (after ``event_id``), in table order.
ENRICHED_VEHICLE_FIELDS: tuple[str, ...] = (
    "device_id",
    "event_time",
    "latitude",
    "longitude",
    "speed",
    "direction",
    "make",
    "model",
    "year",
    "fuel_type",
    "cell_id",
)
# The weather measurements carried into vehicle_enriched (after the weather event's id, station, time).
ENRICHED_WEATHER_FIELDS: tuple[str, ...] = (
    "temperature",
    "weather_condition",
    "precipitation",
    "wind_speed",
    "humidity",
    "air_quality_index",
)


def enriched_columns() -> list[ColumnSpec]:
    """Columns of ``enriched/vehicle_enriched/`` under their public names (partitioned by dt/hour)."""
    v, g, w, e = Stream.VEHICLE, Stream.GPS, Stream.WEATHER, Stream.EMERGENCY
    own = [_col(v, "id", "event_id")] + [_col(v, n) for n in ENRICHED_VEHICLE_FIELDS]
    gps = [
        _col(g, "id", "gps_event_id", nullable=True),
        _col(g, "speed", "gps_speed", nullable=True),
        _col(g, "direction", "gps_direction", nullable=True),
        _col(g, "vehicle_type", nullable=True),
        ColumnSpec("gps_time_delta_s", "double", True, "GPS event time minus vehicle event time, seconds"),
    ]
    weather = [
        _col(w, "id", "weather_event_id", nullable=True),
        _col(w, "device_id", "weather_station_id", nullable=True),
        _col(w, "event_time", "weather_time", nullable=True),
    ] + [_col(w, n, nullable=True) for n in ENRICHED_WEATHER_FIELDS]
    emergency = [
        _col(e, "incident_id", "nearest_incident_id", nullable=True),
        _col(e, "type", "nearest_incident_type", nullable=True),
        ColumnSpec(
            "nearest_incident_distance_km", "double", True, "Haversine distance to the nearest incident"
        ),
        ColumnSpec("incidents_within_radius", "int", False, "Distinct active incidents within the radius"),
    ]
    return own + gps + weather + emergency
