"""The data quality rules of every lake table, declared once as typed rule objects.

The same declaration renders AWS Glue Data Quality rulesets (``smartcity.quality.dqdl``, in the template)
and runs locally (``smartcity.quality.local``, DuckDB over the lake). Ranges and allowed values come from
the event contract's field constraints (``smartcity.contract.columns.field_constraints``) and columns from
the lake's column specs, so a limit changed in the contract changes the rules with it.

Row-level rules (completeness, ranges, allowed values, uniqueness) count offending rows, and a NULL is an
offending value of a range or allowed-values rule (Glue Data Quality fails NULL rows too); they are
declared on non-nullable columns only. Table-level rules (freshness, row counts) measure one value from
the table's own rows, never from earlier evaluations: Glue evaluates a catalogued table's ruleset without
the dynamic rules (``avg(last(N))``) that only Glue ETL jobs support. Limits are inclusive: a reading
exactly at a limit passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from smartcity.anomaly.rules import ANOMALY_COLUMNS, ANOMALY_KINDS
from smartcity.config import Stream
from smartcity.contract.columns import (
    ENRICHED_VEHICLE_FIELDS,
    ColumnSpec,
    enriched_columns,
    field_constraints,
    message_fields,
    quarantine_columns,
    raw_columns,
    snake_case,
)
from smartcity.contract.location import LAT_RANGE, LON_RANGE
from smartcity.errors import UsageError
from smartcity.lake_layout import ANOMALIES_TABLE, ENRICHED_TABLE, QUARANTINE_TABLE, TABLE_PATHS, raw_table

# A table that receives data continuously is stale when its newest row is older than this (hours).
FRESHNESS_MAX_AGE_HOURS: Final = 24
# Row-count bound relative to the recent past: the table's last complete hour (the hour before the hour
# of its newest row) holds fewer rows than this fraction of the hourly average of the RECENT_HOURS before
# it when a stream collapsed. Three hours smooth a single quiet hour; a city's daily rhythm rarely halves
# the traffic from one hour to the next.
RECENT_HOURS: Final = 3
MIN_RATIO_OF_RECENT: Final = 0.5
# Columns of the anomalies table that may be NULL (smartcity.anomaly.rules documents each column).
ANOMALY_NULLABLE: Final = frozenset({"event_id", "latitude", "longitude", "evidence"})


@dataclass(frozen=True)
class Complete:
    """Every row has a value in ``column``."""

    column: str


@dataclass(frozen=True)
class InRange:
    """Every value of ``column`` is within ``[minimum, maximum]`` (inclusive; NULL offends)."""

    column: str
    minimum: float
    maximum: float


@dataclass(frozen=True)
class AllowedValues:
    """Every value of ``column`` is one of ``values`` (NULL offends)."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Unique:
    """``columns`` together identify a row: none is NULL and no two rows share the combination."""

    columns: tuple[str, ...]


@dataclass(frozen=True)
class Fresh:
    """The newest value of the timestamp ``column`` is at most ``max_age_hours`` old."""

    column: str
    max_age_hours: int


@dataclass(frozen=True)
class HasRows:
    """The table has at least one row."""


@dataclass(frozen=True)
class HourVsRecentHours:
    """The rows of the last complete hour of ``column`` (the hour before the hour of its newest value)
    number at least ``min_ratio`` times the hourly average of the ``hours`` hours before it.

    Hours without rows count as zero; hours before the table's first row are not part of the table's
    past, so a table younger than two hours, or one whose past hours hold no row, passes (nothing to
    compare with)."""

    column: str
    hours: int
    min_ratio: float


Rule = Complete | InRange | AllowedValues | Unique | Fresh | HasRows | HourVsRecentHours
# Rules judged row by row (they count offending rows); the others measure the table.
ROW_LEVEL: Final = (Complete, InRange, AllowedValues, Unique)


def _completeness(columns: Iterable[ColumnSpec]) -> list[Rule]:
    return [Complete(c.name) for c in columns if not c.nullable]


def _contract_checks(stream: Stream, only: frozenset[str] | None = None) -> list[Rule]:
    """Ranges and allowed values of a stream's required message fields, as lake columns (``only`` those
    columns when given); a location is its latitude and longitude."""
    constraints = field_constraints(stream)
    rules: list[Rule] = []
    for name, ftype, required in message_fields(stream):
        if not required:
            continue
        if ftype == "location":
            bounds = {"latitude": LAT_RANGE, "longitude": LON_RANGE}
            rules += [InRange(c, lo, hi) for c, (lo, hi) in bounds.items() if only is None or c in only]
            continue
        column = snake_case(name)
        if only is not None and column not in only:
            continue
        found = constraints.get(name, {})
        if "minimum" in found and "maximum" in found:
            rules.append(InRange(column, float(found["minimum"]), float(found["maximum"])))
        if "enum" in found:
            rules.append(AllowedValues(column, tuple(str(v) for v in found["enum"])))
    return rules


def _volume(time_column: str) -> list[Rule]:
    """Rules of a table that receives rows continuously, keyed by its arrival-time column."""
    return [
        HasRows(),
        Fresh(time_column, FRESHNESS_MAX_AGE_HOURS),
        HourVsRecentHours(time_column, RECENT_HOURS, MIN_RATIO_OF_RECENT),
    ]


def _raw(stream: Stream) -> tuple[Rule, ...]:
    # Raw tables keep duplicate deliveries of an event id by design; a Kafka record lands exactly once.
    return (
        *_completeness(raw_columns(stream)),
        *_contract_checks(stream),
        Unique(("kafka_partition", "kafka_offset")),
        *_volume("ingest_time"),
    )


def _quarantine() -> tuple[Rule, ...]:
    # Quarantine is empty while producers behave: no freshness, non-empty or hourly volume rule.
    return (
        *_completeness(quarantine_columns()),
        Unique(("topic", "kafka_partition", "kafka_offset")),
    )


def _enriched() -> tuple[Rule, ...]:
    columns = enriched_columns()
    # The vehicle's own fields keep their names and contract limits in the enriched table.
    return (
        *_completeness(columns),
        *_contract_checks(Stream.VEHICLE, frozenset(ENRICHED_VEHICLE_FIELDS)),
        Unique(("event_id",)),
        *_volume("event_time"),
    )


def _anomalies() -> tuple[Rule, ...]:
    required = [c for c in ANOMALY_COLUMNS if c not in ANOMALY_NULLABLE]
    return (
        *(Complete(c) for c in required),
        AllowedValues("rule", tuple(ANOMALY_KINDS)),
        Unique(("anomaly_id",)),
        # Anomalies are rare by nature: no freshness, non-empty or hourly volume rule.
    )


# Lake table folder → its rules, in the order they are reported.
RULESETS: Final[dict[str, tuple[Rule, ...]]] = {
    **{raw_table(s): _raw(s) for s in Stream},
    QUARANTINE_TABLE: _quarantine(),
    ENRICHED_TABLE: _enriched(),
    ANOMALIES_TABLE: _anomalies(),
}


def catalogued_tables() -> tuple[str, ...]:
    """Tables with a ruleset in AWS: the declared tables the crawlers catalogue, in the catalog's order."""
    return tuple(t for t in TABLE_PATHS if t in RULESETS)


def ruleset(table: str) -> tuple[Rule, ...]:
    """The rules of a table folder; an unknown table is a usage error naming the known ones."""
    try:
        return RULESETS[table]
    except KeyError:
        raise UsageError(f"no quality rules for table {table!r} (known: {', '.join(RULESETS)})") from None
