"""Athena SQL, locally: saved queries, Trino→DuckDB translation and catalog-resolved execution.

The names below are imported on first use: DuckDB and sqlglot are slow to import, and the CLI's argument
parser needs only the light modules of this package (the saved queries' names, the output formats).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartcity.query.engine import QueryResult, run_query
    from smartcity.query.saved import SavedQuery, saved_queries, saved_query
    from smartcity.query.transpile import TranspileError, transpile

_HOME = {
    "QueryResult": "engine",
    "run_query": "engine",
    "SavedQuery": "saved",
    "saved_queries": "saved",
    "saved_query": "saved",
    "TranspileError": "transpile",
    "transpile": "transpile",
}

__all__ = [
    "QueryResult",
    "SavedQuery",
    "TranspileError",
    "run_query",
    "saved_queries",
    "saved_query",
    "transpile",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
