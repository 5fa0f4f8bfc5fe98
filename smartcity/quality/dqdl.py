"""Render the declared rules as AWS Glue Data Quality Definition Language (DQDL) rulesets.

One DQDL rule per declared rule, in declaration order, so the n-th rule of a Glue result is the n-th rule
of the declaration. Choices (docs/decisions/0007-quality-rules-one-declaration.md):
- an inclusive range is two comparisons joined by ``and`` (no reliance on how ``between`` treats ends);
- uniqueness is ``IsPrimaryKey`` (complete and unique, for one column or several);
- freshness is table-level (the newest row), a ``CustomSql`` over ``primary``: ``DataFreshness`` judges
  every row, and a lake keeps its old rows;
- the row-count bound relative to the recent past is a ``CustomSql`` over ``primary`` too (the last
  complete hour against the hours before it, read from the table itself): Glue's dynamic rules
  (``avg(last(N))``) run in Glue ETL jobs only, not in a Data Catalog evaluation run.
"""

from __future__ import annotations

from smartcity.quality.rules import (
    AllowedValues,
    Complete,
    Fresh,
    HasRows,
    HourVsRecentHours,
    InRange,
    Rule,
    Unique,
    ruleset,
)


def _q(text: str) -> str:
    """A DQDL string literal (column names and values of the contract have no quote or backslash)."""
    if '"' in text or "\\" in text:
        raise ValueError(f"cannot quote {text!r} in DQDL")
    return f'"{text}"'


def _num(value: float) -> str:
    return f"{value:g}" if value == int(value) else repr(value)


def hour_vs_recent_sql(column: str, hours: int) -> str:
    """Spark SQL over ``primary``: rows of the last complete hour of ``column`` divided by the hourly
    average of the ``hours`` hours before it, from the table's first hour on; 1.0 when that past holds no
    row. ``smartcity.quality.local.hour_vs_recent_ratio`` is the same measure for the local engine."""
    hour = f"floor(unix_timestamp({column}) / 3600)"
    return (
        "SELECT CASE WHEN base_rows = 0 THEN 1.0 ELSE last_rows * base_hours / base_rows END FROM ("
        f"SELECT count_if(h = m - 1) AS last_rows, count_if(h >= greatest(m - 1 - {hours}, f) AND h < m - 1)"
        f" AS base_rows, max(least({hours}, m - 1 - f)) AS base_hours FROM (SELECT {hour} AS h FROM primary)"
        f" AS r CROSS JOIN (SELECT floor(unix_timestamp(max({column})) / 3600) AS m,"
        f" floor(unix_timestamp(min({column})) / 3600) AS f FROM primary) AS e) AS s"
    )


def render_rule(rule: Rule) -> str:
    """The DQDL text of one rule."""
    match rule:
        case Complete(column):
            return f"IsComplete {_q(column)}"
        case InRange(column, low, high):
            c = _q(column)
            return f"(ColumnValues {c} >= {_num(low)}) and (ColumnValues {c} <= {_num(high)})"
        case AllowedValues(column, values):
            return f"ColumnValues {_q(column)} in [{', '.join(_q(v) for v in values)}]"
        case Unique(columns):
            return "IsPrimaryKey " + " ".join(_q(c) for c in columns)
        case Fresh(column, hours):
            sql = f"SELECT (unix_timestamp() - unix_timestamp(max({column}))) / 3600.0 FROM primary"
            return f"CustomSql {_q(sql)} <= {hours}"
        case HasRows():
            return "RowCount > 0"
        case HourVsRecentHours(column, hours, ratio):
            return f"CustomSql {_q(hour_vs_recent_sql(column, hours))} >= {_num(ratio)}"
    raise TypeError(f"not a quality rule: {rule!r}")


def render_ruleset(table: str) -> str:
    """The DQDL ruleset of a lake table folder: ``Rules = [ ... ]``, one rule per line."""
    body = ",\n".join(f"    {render_rule(r)}" for r in ruleset(table))
    return f"Rules = [\n{body}\n]"
