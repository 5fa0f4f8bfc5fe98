"""Render the declared rules as AWS Glue Data Quality Definition Language (DQDL) rulesets.

One DQDL rule per declared rule, in declaration order, so the n-th rule of a Glue result is the n-th rule
of the declaration. Choices (docs/decisions/0007-quality-rules-one-declaration.md):
- an inclusive range is two comparisons joined by ``and`` (no reliance on how ``between`` treats ends);
- uniqueness is ``IsPrimaryKey`` (complete and unique, for one column or several);
- freshness is table-level (the newest row), a ``CustomSql`` over ``primary``: ``DataFreshness`` judges
  every row, and a lake keeps its old rows;
- the row-count bound relative to the recent past is a dynamic rule, ``RowCount >= avg(last(N)) * r``.
"""

from __future__ import annotations

from smartcity.quality.rules import (
    AllowedValues,
    Complete,
    Fresh,
    HasRows,
    InRange,
    RowCountVsRecent,
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
        case RowCountVsRecent(runs, ratio):
            return f"RowCount >= avg(last({runs})) * {_num(ratio)}"
    raise TypeError(f"not a quality rule: {rule!r}")


def render_ruleset(table: str) -> str:
    """The DQDL ruleset of a lake table folder: ``Rules = [ ... ]``, one rule per line."""
    body = ",\n".join(f"    {render_rule(r)}" for r in ruleset(table))
    return f"Rules = [\n{body}\n]"
