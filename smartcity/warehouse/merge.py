"""Staging → target MERGE statements for both dialects, generated from one description per table.

Each target is its key plus, per column, the expression the row takes on a match (``s`` = staging row,
``t`` = current row). Facts replace every column; dimensions keep the earliest ``first_*``/latest ``last_*``
and take attributes from whichever side was seen last, so merging the same rows twice, or two batches in
either order, gives the same table. Column lists come from the transformation's output (itself generated
from the contract), never typed here.

PostgreSQL: one ``MERGE ... WHEN MATCHED AND <changed> ... RETURNING merge_action()`` that also yields the
inserted/updated counts. Redshift's MERGE has neither a condition on ``WHEN MATCHED`` nor ``RETURNING``, so
the Redshift script first deletes unchanged rows from staging, then merges; Glue runs it as post-actions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from smartcity.warehouse.migrate import Dialect


def _latest(newer: str, col: str) -> str:
    return f"CASE WHEN {newer} THEN s.{col} ELSE t.{col} END"


def _earliest_non_null(col: str) -> str:
    return (
        f"CASE WHEN t.{col} IS NULL THEN s.{col} WHEN s.{col} IS NULL THEN t.{col} "
        f"WHEN s.{col} < t.{col} THEN s.{col} ELSE t.{col} END"
    )


@dataclass(frozen=True)
class Target:
    """A warehouse table loaded by MERGE from its staging table."""

    table: str
    key: str
    # Column → expression on a match; a column not listed takes the staging value (``s.<col>``).
    rules: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # Rows are events: each key is written once upstream, so a new batch almost never holds a key the
    # table has. Where the warehouse enforces the key (PostgreSQL), the loader COPYs such a batch straight
    # into the table and falls back to staging + MERGE only when the key constraint says otherwise.
    events: bool = False

    @property
    def staging(self) -> str:
        return f"stg_{self.table}"

    def expression(self, col: str) -> str:
        return self.rules.get(col, f"s.{col}")


_VEHICLE_NEWER = "s.last_seen >= t.last_seen"
_INCIDENT_NEWER = (
    "(s.last_reported_at > t.last_reported_at OR "
    "(s.last_reported_at = t.last_reported_at AND s.last_event_id >= t.last_event_id))"
)

FACT_VEHICLE_TELEMETRY = Target("fact_vehicle_telemetry", "event_id", events=True)
DIM_VEHICLE = Target(
    "dim_vehicle",
    "device_id",
    {
        **{c: _latest(_VEHICLE_NEWER, c) for c in ("make", "model", "year", "fuel_type")},
        "vehicle_type": "CASE WHEN s.vehicle_type IS NOT NULL "
        f"AND ({_VEHICLE_NEWER} OR t.vehicle_type IS NULL) THEN s.vehicle_type ELSE t.vehicle_type END",
        "first_seen": "LEAST(s.first_seen, t.first_seen)",
        "last_seen": "GREATEST(s.last_seen, t.last_seen)",
    },
)
DIM_WEATHER_STATION = Target(
    "dim_weather_station",
    "weather_station_id",
    {
        **{c: _latest(_VEHICLE_NEWER, c) for c in ("latitude", "longitude", "cell_id")},
        "first_seen": "LEAST(s.first_seen, t.first_seen)",
        "last_seen": "GREATEST(s.last_seen, t.last_seen)",
    },
)
FACT_INCIDENT = Target(
    "fact_incident",
    "incident_id",
    {
        **{
            c: _latest(_INCIDENT_NEWER, c)
            for c in (
                "incident_type",
                "status",
                "description",
                "latitude",
                "longitude",
                "cell_id",
                "last_event_id",
            )
        },
        "first_reported_at": "LEAST(s.first_reported_at, t.first_reported_at)",
        "last_reported_at": "GREATEST(s.last_reported_at, t.last_reported_at)",
        "resolved_at": _earliest_non_null("resolved_at"),
    },
)
TARGETS = (FACT_VEHICLE_TELEMETRY, DIM_VEHICLE, DIM_WEATHER_STATION, FACT_INCIDENT)


def _data_columns(target: Target, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c not in (target.key, "load_id")]


def _changed(target: Target, columns: Sequence[str], dialect: Dialect) -> str:
    """True when applying the row would change the target row (so unchanged rows count as skipped)."""
    parts = []
    for c in _data_columns(target, columns):
        expr = target.expression(c)
        if dialect == "postgres":
            parts.append(f"t.{c} IS DISTINCT FROM ({expr})")
        else:  # Redshift: spell out the null-safe comparison
            parts.append(f"NOT (t.{c} = ({expr}) OR (t.{c} IS NULL AND ({expr}) IS NULL))")
    return " OR ".join(parts) if parts else "FALSE"


def _merge_body(
    target: Target, columns: Sequence[str], load_id: int, matched_condition: str | None, prefix: str = ""
) -> str:
    data = _data_columns(target, columns)
    sets = ", ".join([f"{c} = {target.expression(c)}" for c in data] + [f"load_id = {int(load_id)}"])
    insert_cols = [target.key, *data, "load_id"]
    values = ", ".join([f"s.{c}" for c in [target.key, *data]] + [str(int(load_id))])
    when_matched = "WHEN MATCHED" + (f" AND ({matched_condition})" if matched_condition else "")
    return (
        f"MERGE INTO {prefix}{target.table} AS t USING {prefix}{target.staging} AS s "
        f"ON t.{target.key} = s.{target.key} "
        f"{when_matched} THEN UPDATE SET {sets} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(insert_cols)}) VALUES ({values})"
    )


def postgres_merge(target: Target, columns: Sequence[str], load_id: int) -> str:
    """One statement returning ``(action, count)`` rows: ``INSERT``/``UPDATE`` and how many."""
    merge = _merge_body(target, columns, load_id, _changed(target, columns, "postgres"))
    return (
        f"WITH m AS ({merge} RETURNING merge_action() AS action) "
        "SELECT action, COUNT(*) FROM m GROUP BY action"
    )


def redshift_merge(
    target: Target, columns: Sequence[str], load_id: int, schema: str | None = None
) -> list[str]:
    """Statements (each on one line: Glue's post-actions may not contain newlines) for Redshift.

    ``schema`` qualifies the target and staging tables (Glue's writer names its table ``schema.table``).
    """
    prefix = f"{schema}." if schema else ""
    stg = f"{prefix}{target.staging}"
    unchanged = (
        f"DELETE FROM {stg} USING {prefix}{target.table} t "
        f"WHERE t.{target.key} = {stg}.{target.key} "
        f"AND NOT ({_changed(target, columns, 'redshift')})"
    )
    unchanged = re.sub(r"(?<![\w.])s\.", f"{stg}.", unchanged)
    return [unchanged, _merge_body(target, columns, load_id, None, prefix), f"DELETE FROM {stg}"]
