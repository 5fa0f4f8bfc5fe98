"""The history tab's data: the saved Athena queries, run locally on DuckDB or on Athena.

The one seam with ``smartcity.query``: :func:`query_list` (names, questions, declared parameters) and
:func:`run_saved` (a query's columns and rows for given parameter values). A query's parameters are its
``parameters`` attribute when it declares any (positional ``?`` values, Athena's execution parameters).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd

from smartcity.config import Settings
from smartcity.errors import SmartCityError
from smartcity.query import run_query, saved_queries


class Parameter(Protocol):
    """What the tab needs of a declared parameter."""

    name: str
    type: str
    description: str

    def convert(self, text: str) -> Any: ...


@dataclass(frozen=True)
class QueryChoice:
    name: str
    question: str
    sql: str
    parameters: tuple[Parameter, ...]


def query_list() -> list[QueryChoice]:
    """Every saved query, sorted by name, with the parameters it declares (none if it declares none)."""
    return [
        QueryChoice(q.name, q.question, q.sql, tuple(getattr(q, "parameters", ()) or ()))
        for q in saved_queries().values()
    ]


def convert_values(query: QueryChoice, texts: Sequence[str]) -> list[Any]:
    """The entered texts as the parameters' values (each parameter reports its own one-line error)."""
    return [p.convert(t) for p, t in zip(query.parameters, texts, strict=True)]


def run_saved(
    settings: Settings, query: QueryChoice, values: Sequence[Any], *, workgroup: str = ""
) -> pd.DataFrame:
    """Run a saved query: on the local Athena engine (profile ``local``) or on Athena (profile ``aws``)."""
    if settings.profile == "aws":
        return run_on_athena(settings, query.sql, values, workgroup=workgroup)
    result = run_query(settings, query.sql, params=list(values)) if values else run_query(settings, query.sql)
    return pd.DataFrame(result.rows, columns=result.columns)


def athena_literal(value: Any) -> str:
    """A value as the SQL literal Athena's ExecutionParameters take."""
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ', timespec='milliseconds')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def run_on_athena(
    settings: Settings,
    sql: str,
    values: Sequence[Any],
    *,
    workgroup: str,
    athena: Any = None,
    poll_s: float = 0.5,
    timeout_s: float = 300.0,
) -> pd.DataFrame:
    """Start the query in the workgroup (its result location and limits apply), wait, page the rows."""
    if athena is None:
        import boto3

        athena = boto3.client("athena", **settings.boto3_kwargs())
    if not workgroup:
        raise SmartCityError("running on Athena needs the workgroup (smartcity dashboard --workgroup)")
    request: dict[str, Any] = {
        "QueryString": sql,
        "WorkGroup": workgroup,
        "QueryExecutionContext": {"Database": settings.catalog_database},
    }
    if values:
        request["ExecutionParameters"] = [athena_literal(v) for v in values]
    qid = athena.start_query_execution(**request)["QueryExecutionId"]
    deadline = time.monotonic() + timeout_s
    while True:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        if time.monotonic() > deadline:
            raise SmartCityError(f"Athena query {qid} still {status['State']} after {timeout_s:.0f} s")
        time.sleep(poll_s)
    if status["State"] != "SUCCEEDED":
        raise SmartCityError(f"Athena query {status['State']}: {status.get('StateChangeReason', '')}")
    columns: list[str] = []
    rows: list[list[str | None]] = []
    for n, page in enumerate(athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid)):
        result = page["ResultSet"]
        if not columns:
            columns = [c["Name"] for c in result["ResultSetMetadata"]["ColumnInfo"]]
        data = result["Rows"][1:] if n == 0 else result["Rows"]  # the first row holds the headers
        rows += [[d.get("VarCharValue") for d in r["Data"]] for r in data]
    return _typed(pd.DataFrame(rows, columns=columns))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Athena returns every value as text: columns that are all numbers become numeric (for charts)."""
    for name in frame.columns:
        converted = pd.to_numeric(frame[name], errors="coerce")
        if converted.notna().sum() == frame[name].notna().sum():
            frame[name] = converted
    return frame
