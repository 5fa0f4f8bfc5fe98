"""The data quality rules of every lake table, declared once as typed rule objects.

The same declaration renders AWS Glue Data Quality rulesets (``smartcity.quality.dqdl``, in the template)
and runs locally (``smartcity.quality.local``, DuckDB over the lake). Ranges and allowed values come from
the event contract's field constraints (``smartcity.contract.columns.field_constraints``) and columns from
the lake's column specs, so a limit changed in the contract changes the rules with it.

Row-level rules (completeness, ranges, allowed values, uniqueness) count offending rows, and a NULL is an
offending value of a range or allowed-values rule (Glue Data Quality fails NULL rows too); they are
declared on non-nullable columns only. Table-level rules (freshness, row counts) measure one value.
Limits are inclusive: a reading exactly at a limit passes.
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
# Row-count bound relative to the recent past: fewer rows than this fraction of the average of the last
# RECENT_RUNS evaluations of the same table means rows were lost (the lake only ever grows).
RECENT_RUNS: Final = 10
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
class RowCountVsRecent:
    """The row count is at least ``min_ratio`` times the average count of the last ``runs`` evaluations
    (passes when there is no earlier evaluation)."""

    runs: int
    min_ratio: float


Rule = Complete | InRange | AllowedValues | Unique | Fresh | HasRows | RowCountVsRecent
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


def _volume(*, fresh_column: str | None) -> list[Rule]:
    rules: list[Rule] = [RowCountVsRecent(RECENT_RUNS, MIN_RATIO_OF_RECENT)]
    if fresh_column:
        rules = [HasRows(), Fresh(fresh_column, FRESHNESS_MAX_AGE_HOURS), *rules]
    return rules


def _raw(stream: Stream) -> tuple[Rule, ...]:
    # Raw tables keep duplicate deliveries of an event id by design; a Kafka record lands exactly once.
    return (
        *_completeness(raw_columns(stream)),
        *_contract_checks(stream),
        Unique(("kafka_partition", "kafka_offset")),
        *_volume(fresh_column="ingest_time"),
    )


def _quarantine() -> tuple[Rule, ...]:
    # Quarantine is empty while producers behave: no freshness or non-empty rule.
    return (
        *_completeness(quarantine_columns()),
        Unique(("topic", "kafka_partition", "kafka_offset")),
        *_volume(fresh_column=None),
    )


def _enriched() -> tuple[Rule, ...]:
    columns = enriched_columns()
    # The vehicle's own fields keep their names and contract limits in the enriched table.
    return (
        *_completeness(columns),
        *_contract_checks(Stream.VEHICLE, frozenset(ENRICHED_VEHICLE_FIELDS)),
        Unique(("event_id",)),
        *_volume(fresh_column="event_time"),
    )


def _anomalies() -> tuple[Rule, ...]:
    required = [c for c in ANOMALY_COLUMNS if c not in ANOMALY_NULLABLE]
    return (
        *(Complete(c) for c in required),
        AllowedValues("rule", tuple(ANOMALY_KINDS)),
        Unique(("anomaly_id",)),
        # Anomalies are rare by nature: no freshness or non-empty rule.
        *_volume(fresh_column=None),
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
