"""Athena (Trino) SQL → DuckDB SQL with sqlglot, refusing what would not mean the same thing.

sqlglot translates most Trino constructs, but some it passes through untranslated (``format_datetime``,
``parse_datetime`` with Joda patterns, ``map_agg``, ``"$path"``) and one it
translates silently wrong (weighted ``approx_percentile(x, w, p)`` loses the weight). A wrong number is
worse than an error, so those constructs are detected on the parsed tree and named in the error, and the
generator runs with ``unsupported_level=RAISE``. Integer division is typed: with the catalog's column types
sqlglot emits Trino's truncating ``/`` for integer operands; where operand types cannot be known the query
is refused rather than divided as floats.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from smartcity.errors import SmartCityError
from smartcity.query.params import placeholder_count

READ = "athena"
WRITE = "duckdb"

# Functions sqlglot leaves as-is although DuckDB has no equivalent with the same meaning.
UNTRANSLATABLE_FUNCTIONS = {
    "format_datetime": "format_datetime (Joda-time pattern; use date_format with MySQL-style % patterns)",
    "parse_datetime": "parse_datetime (Joda-time pattern; use date_parse with MySQL-style % patterns)",
    "map_agg": "map_agg",
    "multimap_agg": "multimap_agg",
    "histogram": "histogram",
    "approx_set": "approx_set (HyperLogLog sketches)",
    "merge": "merge (HyperLogLog sketches)",
    "to_geometry": "geospatial functions",
    "st_point": "geospatial functions (ST_Point; use the haversine formula)",
    "st_distance": "geospatial functions (ST_Distance; use the haversine formula)",
}
_INTEGER_TYPES = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
}


class TranspileError(SmartCityError):
    """The query cannot be run locally with the same meaning as in Athena; the message names the construct."""


@dataclass
class Transpiled:
    """The DuckDB SQL, the catalog tables the query reads (``(database or None, table)``) and how many
    ``?`` parameters it takes (they stay ``?`` in the DuckDB SQL, bound when it runs)."""

    athena_sql: str
    duckdb_sql: str
    tables: list[tuple[str | None, str]] = field(default_factory=list)
    placeholders: int = 0


def parse(sql: str) -> exp.Expression:
    """One Athena SELECT statement (comments allowed); anything else is refused up front. The tree is the
    caller's own (a copy): translating a query rewrites its tree in place."""
    return _parsed(sql).copy()


@functools.lru_cache(maxsize=256)
def _parsed(sql: str) -> exp.Expression:
    """Parsing is most of a short query's translation time, and the same queries are translated again and
    again (the saved queries, a dashboard's refresh); callers get copies, never this tree."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        raise TranspileError(f"cannot parse the Athena SQL{where}: {first.get('description', exc)}") from None
    if len(statements) != 1:
        raise TranspileError(f"expected exactly one SQL statement, got {len(statements)}")
    tree = statements[0]
    if isinstance(tree, exp.Create) or tree.find(exp.Properties):
        raise TranspileError(
            "CREATE TABLE AS (CTAS) WITH (...) is not supported locally: run the SELECT alone"
        )
    if not isinstance(tree, exp.Query):
        raise TranspileError(f"only SELECT queries run locally, not {tree.key.upper()}")
    return tree


def referenced_tables(tree: exp.Expression) -> list[tuple[str | None, str]]:
    """Catalog tables read by the query (CTE names excluded), in first-use order."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    seen: list[tuple[str | None, str]] = []
    for t in tree.find_all(exp.Table):
        if not t.name or (not t.db and t.name.lower() in ctes) or isinstance(t.this, exp.Func):
            continue
        key = (t.db.lower() or None, t.name.lower())
        if key not in seen:
            seen.append(key)
    return seen


def check_supported(tree: exp.Expression) -> None:
    """Raise naming the first construct that DuckDB would not evaluate as Athena does."""
    for node in tree.walk():
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name in UNTRANSLATABLE_FUNCTIONS:
                raise TranspileError(f"{UNTRANSLATABLE_FUNCTIONS[name]} cannot be translated to DuckDB")
        elif isinstance(node, exp.Func) and node.sql_name().lower() in UNTRANSLATABLE_FUNCTIONS:
            raise TranspileError(
                f"{UNTRANSLATABLE_FUNCTIONS[node.sql_name().lower()]} cannot be translated to DuckDB"
            )
        if isinstance(node, exp.ApproxQuantile) and node.args.get("weight") is not None:
            raise TranspileError(
                "weighted approx_percentile(x, w, p) cannot be translated to DuckDB"
                " (the weight would be lost)"
            )
        if isinstance(node, exp.Identifier) and node.this.startswith("$"):
            raise TranspileError(
                f'hidden column "{node.this}" (Athena\'s per-file metadata) has no local equivalent'
            )


def _pin_now(tree: exp.Expression, reference_time: datetime) -> exp.Expression:
    """Replace now()/current_timestamp/current_date by a fixed instant so results are reproducible."""
    stamp = reference_time.strftime("%Y-%m-%d %H:%M:%S.%f")
    literal = exp.cast(exp.Literal.string(stamp), exp.DataType.build("timestamp"))

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentTimestamp | exp.CurrentDatetime) or (
            isinstance(node, exp.Anonymous) and node.name.lower() in ("now", "localtimestamp")
        ):
            return literal.copy()
        if isinstance(node, exp.CurrentDate):
            return exp.cast(literal.copy(), exp.DataType.build("date"))
        return node

    return tree.transform(swap)


def _exact_date_diff(tree: exp.Expression) -> exp.Expression:
    """Trino's date_diff counts whole elapsed units; DuckDB's DATE_DIFF counts unit boundaries crossed
    (00:00:00.9 → 00:00:01.1 is 0 s in Trino, 1 s in DuckDB's DATE_DIFF) and sqlglot maps one to the
    other. DuckDB's DATE_SUB has Trino's meaning."""

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DateDiff):
            unit = node.args.get("unit")
            unit_name = (unit.name if unit is not None else "day").lower()
            return exp.Anonymous(
                this="DATE_SUB", expressions=[exp.Literal.string(unit_name), node.expression, node.this]
            )
        return node

    return tree.transform(swap)


def _name_outputs(tree: exp.Expression) -> None:
    """Athena names an unnamed result column ``_col<i>``; give DuckDB the same names."""
    if not isinstance(tree, exp.Select):
        return
    for i, projection in enumerate(tree.expressions):
        if not isinstance(projection, exp.Alias | exp.Column | exp.Star):
            projection.replace(exp.alias_(projection.copy(), f"_col{i}"))


def _check_division(tree: exp.Expression) -> None:
    for div in tree.find_all(exp.Div):
        types = [side.type for side in (div.left, div.right)]
        if any(t is None or t.this == exp.DataType.Type.UNKNOWN for t in types) and not any(
            t is not None and t.this not in _INTEGER_TYPES and t.this != exp.DataType.Type.UNKNOWN
            for t in types
        ):
            raise TranspileError(
                f"cannot tell whether {div.sql(dialect=READ)!r} divides integers"
                " (Trino truncates, DuckDB does "
                "not): CAST one operand to DOUBLE or BIGINT"
            )


def transpile(
    sql: str,
    *,
    schema: dict[str, dict[str, dict[str, str]]] | None = None,
    database: str | None = None,
    reference_time: datetime | None = None,
    write: str = WRITE,
) -> Transpiled:
    """Translate one Athena query.

    ``schema`` is ``{database: {table: {column: glue type}}}`` from the catalog.
    """
    tree = parse(sql)
    check_supported(tree)
    tables = referenced_tables(tree)
    placeholders = placeholder_count(tree)
    if reference_time is not None:
        tree = _pin_now(tree, reference_time)
    _name_outputs(tree)
    if schema is not None:
        try:
            tree = qualify(
                tree,
                dialect=READ,
                db=database,
                schema=schema,
                quote_identifiers=False,
                identify=False,
                validate_qualify_columns=False,
                expand_stars=False,
            )
        except SqlglotError as exc:
            raise TranspileError(f"cannot resolve the query against the catalog: {exc}") from None
        tree = annotate_types(tree, schema=schema, dialect=READ)
    _check_division(tree)
    if write == "duckdb":
        tree = _exact_date_diff(tree)
    try:
        out = tree.sql(dialect=write, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise TranspileError(f"cannot translate to {write}: {exc}") from None
    return Transpiled(athena_sql=sql, duckdb_sql=out, tables=tables, placeholders=placeholders)
