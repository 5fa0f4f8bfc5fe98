"""``smartcity query NAME | --sql "..."``: Athena SQL run locally over the catalogued lake."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from smartcity.commands._common import add_stack_options, settings_from
from smartcity.errors import UsageError
from smartcity.query.output import FORMATS
from smartcity.query.saved import saved_query_names


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query",
        help="run a saved Athena query (or any Athena SQL) locally through the catalog with DuckDB",
        description="Saved queries: " + ", ".join(saved_query_names()),
    )
    add_stack_options(parser)
    parser.add_argument("name", nargs="?", help="saved query name (see --list)")
    parser.add_argument("--sql", help="Athena (Trino) SQL to run instead of a saved query")
    parser.add_argument("--format", choices=sorted(FORMATS), default="table", help="output format")
    parser.add_argument(
        "--explain", action="store_true", help="show the DuckDB SQL and the tables, do not run"
    )
    parser.add_argument(
        "--at",
        type=_instant,
        help="pin now()/current_timestamp to this UTC instant (ISO-8601) for reproducible results",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="VALUE",
        help="a value for the query's next '?' (repeat, in order), or NAME=VALUE; see --list for each"
        " query's parameters",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the saved queries, their questions and parameters"
    )
    parser.set_defaults(handler=_run)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant: {text!r}") from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _run(args: argparse.Namespace) -> int:
    from smartcity.query import run_query, saved_queries, saved_query
    from smartcity.query.params import bind, check_declared, declared_parameters
    from smartcity.query.transpile import parse

    if args.list:
        for q in saved_queries().values():
            print(f"{q.name:<32} {q.question}")
            for p in q.parameters:
                print(f"{'':<32}   --param {p.name}=<{p.type}>: {p.description}")
        return 0
    if bool(args.name) == bool(args.sql):
        raise UsageError("give either a saved query NAME or --sql, not both and not neither")
    if args.sql:
        sql, label = args.sql, "the query"
        parameters = declared_parameters(sql)
        check_declared(parse(sql), parameters)
    else:
        saved = saved_query(args.name)
        sql, label, parameters = saved.sql, saved.name, saved.parameters
    # --explain translates without running, so it needs no values; given ones are still checked.
    values = bind(label, parameters, args.param) if args.param or not args.explain else []
    result = run_query(
        settings_from(args), sql, reference_time=args.at, execute=not args.explain, params=values
    )
    if args.explain:
        print(result.transpiled.duckdb_sql)
        for t in result.tables.values():
            print(f"-- {t.database}.{t.name}: {t.location} ({len(t.partitions)} registered partitions)")
        return 0
    print(FORMATS[args.format](result.columns, result.rows))
    return 0
