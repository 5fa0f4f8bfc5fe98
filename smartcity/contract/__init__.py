"""The event contract, version 1.0: models, the validator, and every schema generated from them.

Everything another part of the pipeline needs about an event's shape is imported from here; see
``docs/contract.md`` for the fields, units and an example of each event.
"""

from smartcity.config import Stream
from smartcity.contract.columns import (
    ENRICHED_VEHICLE_FIELDS,
    ENRICHED_WEATHER_FIELDS,
    PARTITION_KEYS,
    QUARANTINE_PARTITION_KEYS,
    ColumnSpec,
    enriched_columns,
    field_constraints,
    message_fields,
    quarantine_columns,
    raw_columns,
    snake_case,
)
from smartcity.contract.errors import VIOLATION_KINDS, ContractViolation
from smartcity.contract.exporters import (
    arrow_schema,
    arrow_type,
    glue_columns,
    json_schema,
    spark_schema,
    sql_ddl,
)
from smartcity.contract.location import parse_location
from smartcity.contract.models import (
    CONTRACT_VERSION,
    MODELS,
    EmergencyEvent,
    GpsEvent,
    TrafficEvent,
    VehicleEvent,
    WeatherEvent,
)
from smartcity.contract.validate import parse_event

__all__ = [
    "CONTRACT_VERSION",
    "ENRICHED_VEHICLE_FIELDS",
    "ENRICHED_WEATHER_FIELDS",
    "MODELS",
    "PARTITION_KEYS",
    "QUARANTINE_PARTITION_KEYS",
    "VIOLATION_KINDS",
    "ColumnSpec",
    "ContractViolation",
    "EmergencyEvent",
    "GpsEvent",
    "Stream",
    "TrafficEvent",
    "VehicleEvent",
    "WeatherEvent",
    "arrow_schema",
    "arrow_type",
    "enriched_columns",
    "field_constraints",
    "glue_columns",
    "json_schema",
    "message_fields",
    "parse_event",
    "parse_location",
    "quarantine_columns",
    "raw_columns",
    "snake_case",
    "spark_schema",
    "sql_ddl",
]
