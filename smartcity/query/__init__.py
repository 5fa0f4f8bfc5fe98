"""Athena SQL, locally: saved queries, Trino→DuckDB translation and catalog-resolved execution."""

from smartcity.query.engine import QueryResult, run_query
from smartcity.query.saved import SavedQuery, saved_queries, saved_query
from smartcity.query.transpile import TranspileError, transpile

__all__ = [
    "QueryResult",
    "SavedQuery",
    "TranspileError",
    "run_query",
    "saved_queries",
    "saved_query",
    "transpile",
]
